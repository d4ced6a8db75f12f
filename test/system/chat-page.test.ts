// The chat page (public/, routes/client.ts) in headless Chromium against
// Megaphone's own /http-bind and the real ejabberd: log in, roster and
// presence, messages both ways with receipts, log-in failures, log out.
import t from 'tap'
import { type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkBodiesAgainstSchema, recordBody } from '../helpers/bosh-http.js'
import { registerContacts, registerUsers, sessionsWithPrefix, testEjabberd, waitFor, waitForSessions } from '../helpers/ejabberd.js'

const PASSWORD = 'chat-page-pw'
// Every wait in a page is bounded by this.
const WAIT_MS = 15_000

const ej = testEjabberd()

let browser: Browser | undefined
t.before(async () => { browser = await launchChromium() })
t.teardown(async () => await browser?.close())

interface ChatPage {
  page: Page
  /** Console errors and uncaught exceptions (a CSP violation shows up here). */
  errors: string[]
}

/**
 * Two browser tabs, A and B, each in its own browser context (its own cookies
 * and storage), kept for the whole file: a test loads the chat page afresh in
 * them. Each new context costs Chromium a renderer process (over a second of
 * CPU here), and a navigation within the same site keeps the tab's renderer.
 * A closed tab is opened again when next asked for.
 */
const tabs = new Map<'A' | 'B', ChatPage & { context: BrowserContext }>()

async function tab (name: 'A' | 'B'): Promise<ChatPage> {
  const open = tabs.get(name)
  if (open !== undefined && !open.page.isClosed()) return open
  if (browser === undefined) throw new Error('no browser')
  // A tab a test closed: its context goes now, not when the tab closed, so
  // that what the page sent as it closed (a beacon) was not cut short.
  await open?.context.close()
  const context = await browser.newContext()
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT_MS)
  const made = { page, context, errors: [] as string[] }
  page.on('console', (msg: ConsoleMessage) => { if (msg.type() === 'error') made.errors.push(msg.text()) })
  page.on('pageerror', (err) => { made.errors.push(err.message) })
  // Every BOSH body the browser receives goes to the schema check at the end.
  page.on('response', (res) => {
    if (res.request().method() === 'POST' && new URL(res.url()).pathname === '/http-bind') {
      res.text().then(recordBody, () => {})
    }
  })
  tabs.set(name, made)
  return made
}

/**
 * Loads `url` in tab `name` with a fresh page state. A session a failed test
 * left open ends with the Megaphone that `t` stops, or when the next test
 * navigates the tab away (the page's pagehide sends terminate).
 */
async function openPage (url: string, name: 'A' | 'B' = 'A'): Promise<ChatPage> {
  const chat = await tab(name)
  chat.errors = []
  const res = await chat.page.goto(url)
  if (res?.status() !== 200) {
    throw new Error(`GET ${url} answered ${res?.status() ?? 'nothing'}: does app.ts register routes/client.ts?`)
  }
  return chat
}

async function logIn (page: Page, jid: string, password = PASSWORD): Promise<void> {
  await page.fill('#jid', jid)
  await page.fill('#password', password)
  await page.click('#connect')
}

async function statusOf (page: Page): Promise<{ state: string | null, text: string | null }> {
  const status = page.locator('#status')
  return { state: await status.getAttribute('data-state'), text: await status.textContent() }
}

async function waitForState (page: Page, state: string): Promise<void> {
  await page.locator(`#status[data-state="${state}"]`).waitFor()
}

async function send (page: Page, to: string, text: string): Promise<void> {
  await page.fill('#to', to)
  await page.fill('#body', text)
  await page.click('#send')
}

/** The `n`th (from 1) incoming message in the log, once there. */
async function incoming (page: Page, n: number): Promise<{ from: string | null, body: string | null }> {
  const li = page.locator('#log li[data-direction="in"]').nth(n - 1)
  await li.waitFor()
  return { from: await li.getAttribute('data-from'), body: await li.locator('.body').textContent() }
}

async function logOut (page: Page): Promise<void> {
  await page.click('#logout')
  await waitForState(page, 'disconnected')
}

t.test('two users chat from the page through Megaphone, each message shown once, then log out', async (t) => {
  const prefix = 'chatpg'
  const mp = await startMegaphone(t)
  const [a, b] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const jidA = `${a}@${ej.domain}`
  const jidB = `${b}@${ej.domain}`

  const pageA = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`)
  const pageB = await openPage(`${mp.baseUrl}/`, 'B')
  // A bare user name takes ?domain=; B types the full JID.
  await logIn(pageA.page, a)
  await logIn(pageB.page, jidB)
  await Promise.all([waitForState(pageA.page, 'connected'), waitForState(pageB.page, 'connected')])
  t.match((await statusOf(pageA.page)).text, `Connected as ${jidA}/`)
  t.match((await statusOf(pageB.page)).text, `Connected as ${jidB}/`)
  t.match((await statusOf(pageA.page)).text, /\(WebSocket\)$/, 'the page says it uses WebSocket')
  t.equal(mp.app.websocket.size, 2, 'both pages are on Megaphone\'s WebSocket endpoint (RFC 7395)')
  t.equal(mp.app.bosh.size, 0)
  t.equal(await pageA.page.isVisible('#login'), false, 'the log-in form gives way to the chat')
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')

  // Markup in a message stays text.
  const hello = 'héllo → 世界 <b>bold</b> & "quoted"'
  await send(pageA.page, jidB, hello)
  t.same(await incoming(pageB.page, 1), { from: jidA, body: hello }, 'B sees A\'s message with A as sender')
  t.equal(await pageB.page.locator('#log b').count(), 0, 'no element made from message text')
  // XEP-0184: B's page acknowledged it.
  await pageA.page.locator('#log li[data-direction="out"][data-delivered="true"]').waitFor()
  t.equal(await pageA.page.locator('#body').inputValue(), '', 'the message box is cleared')

  await send(pageB.page, jidA, 'hi A')
  t.same(await incoming(pageA.page, 1), { from: jidB, body: 'hi A' }, 'A sees B\'s reply')
  await pageB.page.locator('#log li[data-direction="out"][data-delivered="true"]').waitFor()
  // The reply went through after A's message: a duplicate of that would be here by now.
  t.equal(await pageB.page.locator('#log li[data-direction="in"]').count(), 1, 'B shows A\'s message exactly once')
  t.equal(await pageA.page.locator('#log li[data-direction="in"]').count(), 1, 'A shows B\'s reply exactly once')

  await Promise.all([logOut(pageA.page), logOut(pageB.page)])
  t.equal((await statusOf(pageA.page)).text, 'Logged out')
  t.equal(await pageA.page.isVisible('#login'), true, 'the log-in form is back')
  t.equal(await waitForSessions(prefix, 0, WAIT_MS), 0, 'no session left in ejabberd')
  t.equal(mp.app.bosh.size, 0, 'no BOSH session left in Megaphone')
  t.same(pageA.errors, [], 'no console errors on page A')
  t.same(pageB.errors, [], 'no console errors on page B')
})

t.test('the roster shows a contact offline, online, away and offline again; clicking it addresses it (RFC 6121 2.2)', async (t) => {
  const prefix = 'chpgroster'
  const mp = await startMegaphone(t)
  const { a, b, jidA, jidB } = await registerContacts(t, prefix, PASSWORD)

  const pageA = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`)
  await logIn(pageA.page, a)
  await waitForState(pageA.page, 'connected')
  const bOnA = pageA.page.locator(`#roster li[data-jid="${jidB}"]`)
  await bOnA.waitFor()
  t.equal(await bOnA.locator('.name').textContent(), 'Bea', 'the roster name')
  t.equal(await bOnA.getAttribute('data-presence'), 'offline')
  t.equal(await pageA.page.isVisible('#roster-empty'), false)

  const pageB = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`, 'B')
  await logIn(pageB.page, b)
  await waitForState(pageB.page, 'connected')
  await pageA.page.locator(`#roster li[data-jid="${jidB}"][data-presence="online"]`).waitFor()
  await pageB.page.locator(`#roster li[data-jid="${jidA}"][data-presence="online"]`).waitFor()

  await pageB.page.selectOption('#show', 'away')
  await pageA.page.locator(`#roster li[data-jid="${jidB}"][data-presence="away"]`).waitFor()

  await bOnA.locator('button').click()
  t.equal(await pageA.page.locator('#to').inputValue(), jidB, 'clicking a contact fills in To')

  await logOut(pageB.page)
  await pageA.page.locator(`#roster li[data-jid="${jidB}"][data-presence="offline"]`).waitFor()
  await logOut(pageA.page)
  t.equal(await pageA.page.locator('#roster li').count(), 0, 'the roster is cleared on log-out')
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, WAIT_MS, 'sessions to end in ejabberd')
  t.same(pageA.errors, [], 'no console errors on page A')
  t.same(pageB.errors, [], 'no console errors on page B')
})

t.test('closing the tab ends the session at once, not at the inactivity timeout (XEP-0124 13)', async (t) => {
  const mp = await startMegaphone(t)
  const prefix = 'chatcl'
  const [user] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const { page } = await openPage(`${mp.baseUrl}/?service=${mp.config.bosh.path}`, 'B')
  await logIn(page, user)
  await waitForState(page, 'connected')
  t.equal(await sessionsWithPrefix(prefix), 1)
  await page.close({ runBeforeUnload: true })
  // Inactivity is 60 s; the beacon's terminate ends it within a few.
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 10_000, 'the session gone from ejabberd')
  t.equal(mp.app.bosh.size, 0, 'and from Megaphone')
})

t.test('closing the tab over WebSocket closes the stream at once (RFC 7395 3.6)', async (t) => {
  const mp = await startMegaphone(t)
  const prefix = 'chatwscl'
  const [user] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const { page } = await openPage(`${mp.baseUrl}/`, 'B')
  await logIn(page, user)
  await waitForState(page, 'connected')
  t.equal(mp.app.websocket.size, 1)
  await page.close({ runBeforeUnload: true })
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 10_000, 'the session gone from ejabberd')
  await waitFor(() => mp.app.websocket.size === 0, 5_000, 'the WebSocket gone from Megaphone')
  t.equal(mp.app.websocket.ended.get('normal'), 1, 'ended by the page\'s <close/>, not as a lost connection')
})

t.test('when the WebSocket is refused, the page falls back to BOSH and says so', async (t) => {
  // An allowed-origins list without this page's origin: the WebSocket upgrade
  // is refused (403); BOSH from the same origin needs no CORS and goes through.
  const mp = await startMegaphone(t, { env: { MEGAPHONE_CORS_ORIGINS: 'https://elsewhere.example' } })
  const prefix = 'chatfb'
  const [user] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const chat = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`)
  await logIn(chat.page, user)
  await waitForState(chat.page, 'connected')
  t.match((await statusOf(chat.page)).text, /\(BOSH\)$/, 'connected over BOSH')
  t.equal(mp.app.bosh.size, 1)
  t.equal(mp.app.websocket.size, 0)
  await logOut(chat.page)
  // The refused upgrade shows in the console as a failed WebSocket; nothing else may.
  t.same(chat.errors.filter((e) => !/websocket/i.test(e)), [], 'no other console error')
})

t.test('with the WebSocket endpoint turned off, the page uses BOSH directly', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_WEBSOCKET_ENABLED: 'false' } })
  const prefix = 'chatbo'
  const [user] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const chat = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`)
  await logIn(chat.page, user)
  await waitForState(chat.page, 'connected')
  t.match((await statusOf(chat.page)).text, /\(BOSH\)$/)
  t.equal(mp.app.bosh.size, 1)
  await logOut(chat.page)
  t.same(chat.errors, [], 'no console errors')
})

t.test('a wrong password shows a log-in failure and leaves no session', async (t) => {
  const prefix = 'chpgbadpw'
  const mp = await startMegaphone(t)
  const [user] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const { page } = await openPage(`${mp.baseUrl}/?domain=${ej.domain}`)
  await logIn(page, user, 'not-the-password')
  await waitForState(page, 'error')
  t.equal((await statusOf(page)).text, 'Log-in failed: wrong JID or password')
  await page.locator('#connect:enabled').waitFor()
  t.equal(await page.isVisible('#chat'), false, 'the chat stays hidden')
  await waitFor(() => mp.app.bosh.size === 0 && mp.app.websocket.size === 0, WAIT_MS, 'the session to end in Megaphone')
  t.equal(await sessionsWithPrefix(prefix), 0)

  // The form works again after a failure.
  await logIn(page, user)
  await waitForState(page, 'connected')
  await logOut(page)
})

t.test('an endpoint that refuses the session shows a connection failure', async (t) => {
  const mp = await startMegaphone(t)
  // A same-origin path (the CSP allows no other) where nothing answers: 404.
  const { page } = await openPage(`${mp.baseUrl}/?service=/no-bosh-here`)
  await logIn(page, 'nobody')
  await waitForState(page, 'error')
  t.match((await statusOf(page)).text, /^Connection failed: /)
  await page.locator('#connect:enabled').waitFor()
})

checkBodiesAgainstSchema(t)
