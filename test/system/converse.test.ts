// Converse.js, served by Megaphone at /converse/ from the installed npm
// package, in headless Chromium against the real ejabberd: two users log in
// over WebSocket and chat; then one user's network drops (a loopback proxy
// between that browser and Megaphone cuts its connections and refuses new
// ones), messages are sent to that user while it is away, and when the
// network is back Converse resumes its stream (XEP-0198 <resumed/>, no new
// log-in) and shows every message exactly once.
import t from 'tap'
import { type Browser, type Page, type WebSocket as PageWebSocket } from 'playwright-core'
import { request } from 'undici'
import { launchChromium } from '../helpers/chromium.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { ctl, registerUsers, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { megaphoneMemory, startMegaphoneProcess, type Megaphone as MegaphoneProcess } from '../../scripts/bench/megaphone-child.js'

const PASSWORD = 'converse-pw'
const WAIT_MS = 20_000
const ej = testEjabberd()

let browser: Browser | undefined
t.before(async () => { browser = await launchChromium() })
t.teardown(async () => await browser?.close())

interface ConversePage {
  page: Page
  errors: string[]
  /** Every WebSocket the page opened, with the text frames each way. */
  sockets: Array<{ url: string, sent: string[], received: string[], closed: boolean }>
}

async function openConverse (baseUrl: string): Promise<ConversePage> {
  if (browser === undefined) throw new Error('no browser')
  const context = await browser.newContext()
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT_MS)
  const made: ConversePage = { page, errors: [], sockets: [] }
  // Two kinds of console errors come from the test's surroundings, not from
  // Megaphone: this machine has no DNS (the logos Converse loads from
  // conversejs.org fail), and the test ejabberd has no PEP (mod_pubsub), so
  // Converse's OMEMO and emoji lookups get service-unavailable.
  const expected = /net::ERR_NAME_NOT_RESOLVED|OMEMO|xmlns="http:\/\/jabber.org\/protocol\/pubsub"/
  page.on('console', (msg) => { if (msg.type() === 'error' && !expected.test(msg.text())) made.errors.push(msg.text()) })
  page.on('pageerror', (err) => { made.errors.push(err.message) })
  page.on('websocket', (ws: PageWebSocket) => {
    const record = { url: ws.url(), sent: [] as string[], received: [] as string[], closed: false }
    made.sockets.push(record)
    ws.on('framesent', (f) => { record.sent.push(String(f.payload)) })
    ws.on('framereceived', (f) => { record.received.push(String(f.payload)) })
    ws.on('close', () => { record.closed = true })
  })
  const res = await page.goto(`${baseUrl}/converse/`)
  if (res?.status() !== 200) throw new Error(`GET /converse/ answered ${res?.status() ?? 'nothing'}`)
  return made
}

async function logIn ({ page }: ConversePage, jid: string): Promise<void> {
  await page.locator('input[name="jid"]').fill(jid)
  await page.locator('input[name="password"]').fill(PASSWORD)
  await page.locator('#converse-login button[type="submit"]').click()
  await page.locator('converse-roster').first().waitFor()
}

/** Opens the chat with `jid` from the roster. */
async function openChat ({ page }: ConversePage, jid: string): Promise<void> {
  await page.locator(`converse-roster a.open-chat[data-jid="${jid}"], converse-roster [data-jid="${jid}"] a.open-chat`).first().click()
  await page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`).waitFor()
}

async function sendTo ({ page }: ConversePage, jid: string, text: string): Promise<void> {
  const box = page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`)
  await box.fill(text)
  await box.press('Enter')
}

/** How many times `text` shows in the chat with `jid`. */
async function shown ({ page }: ConversePage, jid: string, text: string): Promise<number> {
  return await page.locator(`converse-chat[jid="${jid}"] .chat-msg__text`, { hasText: text }).count()
}

async function waitShown (p: ConversePage, jid: string, text: string): Promise<void> {
  await p.page.locator(`converse-chat[jid="${jid}"] .chat-msg__text`, { hasText: text }).first().waitFor()
}

t.test('Megaphone serves Converse.js at /converse/, preconfigured for its own endpoints', async (t) => {
  const mp = await startMegaphone(t)
  const page = await request(`${mp.baseUrl}/converse/`)
  t.equal(page.statusCode, 200)
  const html = await page.body.text()
  t.match(html, /"websocket_url":"\/xmpp-websocket"/, 'WebSocket first')
  t.match(html, /"bosh_service_url":"\/http-bind"/, 'BOSH as the fallback')
  t.match(html, /"enable_smacks":true/, 'XEP-0198 on')
  t.match(page.headers['content-security-policy'], /default-src 'self'/)
  const js = await request(`${mp.baseUrl}/converse/dist/converse.min.js`)
  t.equal(js.statusCode, 200, 'the package\'s files from node_modules')
  t.match(js.headers['content-type'], /javascript/)
  t.ok(js.headers.etag, 'with an ETag')
  await js.body.dump()

  const off = await startMegaphone(t, { env: { MEGAPHONE_CLIENT_CONVERSE: 'false' } })
  const none = await request(`${off.baseUrl}/converse/`)
  t.equal(none.statusCode, 404, 'turned off: not served')
  await none.body.dump()
})

t.test('Converse.js: two users chat over WebSocket; one loses its network, is sent messages, and resumes its stream (XEP-0198) showing each once', async (t) => {
  const prefix = 'conv'
  const mp = await startMegaphone(t)
  const [a, b] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const jidA = `${a}@${ej.domain}`
  const jidB = `${b}@${ej.domain}`
  for (const [user, contact, name] of [[a, b, 'Bea'], [b, a, 'Al']] as const) {
    t.equal(await ctl('add_roster_item', user, ej.domain, `${contact}@${ej.domain}`, name, 'both'), 'ok')
  }
  // A reaches Megaphone through a proxy that plays its network; B directly.
  const url = new URL(mp.baseUrl)
  const network = await FaultProxy.start(url.hostname, Number(url.port))
  t.teardown(async () => await network.close())

  const pageA = await openConverse(`http://127.0.0.1:${network.port}`)
  const pageB = await openConverse(mp.baseUrl)
  await logIn(pageA, jidA)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  t.equal(mp.app.websocket.size, 2, 'both over WebSocket')
  t.equal(mp.app.bosh.size, 0, 'neither over BOSH')
  const socketA = pageA.sockets[0]
  t.ok(socketA?.received.some((f) => f.startsWith('<enabled ') && f.includes("resume='true'")), 'A enabled stream management with resumption')

  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageA, jidB, 'hello from A')
  await waitShown(pageB, jidA, 'hello from A')
  await sendTo(pageB, jidA, 'hello from B')
  await waitShown(pageA, jidB, 'hello from B')

  // A's network goes down: its WebSocket is cut, and reconnections fail.
  network.setRefusing(true)
  network.cut()
  await waitFor(() => socketA?.closed === true, WAIT_MS, 'A\'s browser to see its WebSocket closed')
  const away = ['while away 1', 'while away 2', 'while away 3']
  for (const text of away) await sendTo(pageB, jidA, text)
  // Sent by B's browser before A's network is back; ejabberd holds them for A's session, which waits to be resumed.
  await waitFor(() => pageB.sockets.some((s) => s.sent.some((f) => f.includes('while away 3'))), WAIT_MS, 'B\'s browser to send them')
  t.equal(await shown(pageA, jidB, 'while away'), 0, 'A has not seen them yet')

  network.setRefusing(false)
  await waitFor(() => pageA.sockets.some((s, i) => i > 0 && s.received.some((f) => f.startsWith('<resumed '))), WAIT_MS, 'A\'s Converse to resume its stream')
  const later = pageA.sockets.slice(1)
  t.ok(later.some((s) => s.sent.some((f) => f.startsWith('<resume '))), 'A asked to resume its stream')
  t.ok(later.some((s) => s.received.some((f) => f.startsWith('<resumed '))), 'and got XEP-0198 <resumed/>')
  t.notOk(later.some((s) => s.sent.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind'))), 'no new resource bound: the same session goes on')
  for (const text of away) await waitShown(pageA, jidB, text)
  for (const text of [...away, 'hello from B']) t.equal(await shown(pageA, jidB, text), 1, `A shows "${text}" exactly once`)
  t.equal(await sessionsWithPrefix(prefix), 2, 'still one session each in ejabberd')

  await sendTo(pageA, jidB, 'back again')
  await waitShown(pageB, jidA, 'back again')
  t.equal(await shown(pageB, jidA, 'back again'), 1)
  t.same(pageB.errors, [], 'no console errors on B')
})

t.test('Converse.js over BOSH: when the link to ejabberd is lost, Converse reconnects by itself instead of logging the user out', async (t) => {
  const prefix = 'convb'
  const proxy = await FaultProxy.start('127.0.0.1', ej.linkPort)
  t.teardown(async () => await proxy.close())
  // BOSH only (no WebSocket endpoint), and a link that can be cut.
  const mp = await startMegaphone(t, {
    linkPort: proxy.port,
    env: { MEGAPHONE_WEBSOCKET_ENABLED: 'false', MEGAPHONE_LINK_RECONNECT_MIN_DELAY_MS: '50', MEGAPHONE_LINK_RECONNECT_MAX_DELAY_MS: '200' }
  })
  const [a] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const page = await openConverse(mp.baseUrl)
  await logIn(page, `${a}@${ej.domain}`)
  await waitFor(() => mp.app.bosh.size === 1, WAIT_MS, 'a BOSH session in Megaphone')
  const first = [...mp.app.bosh.sids()][0]

  proxy.cut()
  // The held request is answered system-shutdown; Converse logs in again on its own.
  await waitFor(() => mp.app.bosh.size === 1 && [...mp.app.bosh.sids()][0] !== first, WAIT_MS, 'Converse to open a new BOSH session')
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 1, WAIT_MS, 'the user online again in ejabberd')
  t.equal(await page.page.locator('#converse-login').count(), 0, 'the log-in form never came back: the user was not logged out')
  t.same(page.errors.filter((e) => !/system-shutdown|BOSH|request|status/i.test(e)), [], 'no console errors other than the dropped connection')
})

t.test('rolling restart behind HAProxy: the process holding a Converse.js user shuts down; Converse resumes its stream on the other process (XEP-0198) and loses no message', async (t) => {
  const prefix = 'convr'
  const w1 = await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: INSTANCES[0] as string, MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  const w2 = await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: INSTANCES[1] as string, MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  const base = await startHaproxy(t, [w1, w2])
  const [a, b] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const jidA = `${a}@${ej.domain}`
  const jidB = `${b}@${ej.domain}`
  for (const [user, contact, name] of [[a, b, 'Bea'], [b, a, 'Al']] as const) {
    t.equal(await ctl('add_roster_item', user, ej.domain, `${contact}@${ej.domain}`, name, 'both'), 'ok')
  }
  const pageA = await openConverse(base)
  await logIn(pageA, jidA)
  await waitFor(() => w1.app.websocket.size + w2.app.websocket.size === 1, WAIT_MS, 'A\'s WebSocket session')
  // The process that holds A is the one restarted.
  const [restarted, other] = w1.app.websocket.size === 1 ? [w1, w2] : [w2, w1]
  const pageB = await openConverse(base)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageB, jidA, 'before the restart')
  await waitShown(pageA, jidB, 'before the restart')

  // Restart the process that holds A: draining, then closed, as SIGTERM does.
  await restarted.drain(0)
  await restarted.close()
  const away = ['during the restart 1', 'during the restart 2']
  for (const text of away) await sendTo(pageB, jidA, text)

  await waitFor(() => pageA.sockets.slice(1).some((s) => s.received.some((f) => f.startsWith('<resumed '))), WAIT_MS, 'A\'s Converse to resume on the other process')
  t.ok(pageA.sockets.slice(1).every((s) => !s.sent.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind'))), 'resumed, not bound anew')
  t.ok(other.app.websocket.size >= 1, 'A is now on the other process')
  for (const text of [...away, 'before the restart']) {
    await waitShown(pageA, jidB, text)
    t.equal(await shown(pageA, jidB, text), 1, `A shows "${text}" exactly once`)
  }
})

t.test('Converse.js through HAProxy: kill -9 of the Megaphone process holding it; Converse comes back by itself on the other process, and a message sent afterwards arrives', async (t) => {
  const prefix = 'convk'
  const procs: MegaphoneProcess[] = []
  for (const instance of INSTANCES.slice(0, 2)) {
    const p = await startMegaphoneProcess(ej, [], { MEGAPHONE_INSTANCE: instance, MEGAPHONE_HTTP_TRUST_PROXY: 'true', MEGAPHONE_LOG_LEVEL: 'warn' })
    t.teardown(() => { if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL') })
    procs.push(p)
  }
  const base = await startHaproxy(t, procs.map((p) => ({ baseUrl: new URL(p.url).origin })))
  const [a, b] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const jidA = `${a}@${ej.domain}`
  const jidB = `${b}@${ej.domain}`
  for (const [user, contact, name] of [[a, b, 'Bea'], [b, a, 'Al']] as const) {
    t.equal(await ctl('add_roster_item', user, ej.domain, `${contact}@${ej.domain}`, name, 'both'), 'ok')
  }
  const linkSessions = async (p: MegaphoneProcess): Promise<number> => (await megaphoneMemory(p, { gc: false })).linkSessions
  const pageA = await openConverse(base)
  await logIn(pageA, jidA)
  await waitFor(async () => (await linkSessions(procs[0] as MegaphoneProcess)) + (await linkSessions(procs[1] as MegaphoneProcess)) === 1, WAIT_MS, 'A\'s session in one process')
  // The process that holds A is killed; B talks to the other one directly, out of harm's way.
  const [killed, survivor] = (await linkSessions(procs[0] as MegaphoneProcess)) === 1 ? procs as [MegaphoneProcess, MegaphoneProcess] : [procs[1], procs[0]] as [MegaphoneProcess, MegaphoneProcess]
  const pageB = await openConverse(new URL(survivor.url).origin)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageB, jidA, 'before the kill')
  await waitShown(pageA, jidB, 'before the kill')
  const firstSocket = pageA.sockets.length - 1

  const killedAt = Date.now()
  killed.child.kill('SIGKILL')
  await waitFor(() => pageA.sockets[firstSocket]?.closed === true, WAIT_MS, 'A\'s browser to see its WebSocket drop')
  // Back: a later WebSocket that resumed the stream (XEP-0198) or bound a new resource, without anyone touching the page.
  const later = (): ConversePage['sockets'] => pageA.sockets.slice(firstSocket + 1)
  const resumed = (): boolean => later().some((s) => s.received.some((f) => f.startsWith('<resumed ')))
  const bound = (): boolean => later().some((s) => s.received.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind') && f.includes('<jid>')))
  await waitFor(() => resumed() || bound(), 30_000, 'A\'s Converse to come back by itself')
  const backMs = Date.now() - killedAt
  await waitFor(async () => (await linkSessions(survivor)) === 2, WAIT_MS, 'A\'s session on the surviving process')
  t.equal(await pageA.page.locator('#converse-login').count(), 0, 'the log-in form never came back: the user was not logged out')
  t.equal(await sessionsWithPrefix(prefix), 2, 'one session each in ejabberd')

  await sendTo(pageB, jidA, 'after the kill')
  await waitShown(pageA, jidB, 'after the kill')
  const shownMs = Date.now() - killedAt
  t.equal(await shown(pageA, jidB, 'after the kill'), 1, 'A shows the message sent after the kill, once')
  t.equal(await shown(pageA, jidB, 'before the kill'), 1, 'and the one before it, still once')
  t.comment(`kill -9 to Converse back (${resumed() ? 'resumed its stream, XEP-0198' : 'logged in again'}) after ${backMs} ms, ` +
    `over ${later().length} new WebSocket(s); to the next message shown: ${shownMs} ms`)
})
