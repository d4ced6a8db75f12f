// Converse.js in headless Chromium, as the tests drive it: a page per user
// (its own browser context), log-in, opening a chat, sending, and counting
// what the chat shows. Every WebSocket the page opens is recorded, frames
// both ways, so a test can see a resumption (<resumed/>) or a new bind.
import type { Test } from 'tap'
import { type Browser, type Page, type WebSocket as PageWebSocket } from 'playwright-core'
import { launchChromium } from './chromium.js'

export const PASSWORD = 'converse-pw'
export const WAIT_MS = 20_000

/** One Chromium for the test file, launched before its tests and closed after them. */
export function useChromium (t: Test): { open: (baseUrl: string) => Promise<ConversePage> } {
  let browser: Browser | undefined
  t.before(async () => { browser = await launchChromium() })
  t.teardown(async () => await browser?.close())
  return {
    open: async (baseUrl) => {
      if (browser === undefined) throw new Error('no browser')
      return await openConverse(browser, baseUrl)
    }
  }
}

export interface ConversePage {
  page: Page
  errors: string[]
  /** Every WebSocket the page opened, with the text frames each way. */
  sockets: Array<{ url: string, sent: string[], received: string[], closed: boolean }>
}

async function openConverse (browser: Browser, baseUrl: string): Promise<ConversePage> {
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

export async function logIn ({ page }: ConversePage, jid: string): Promise<void> {
  await page.locator('input[name="jid"]').fill(jid)
  await page.locator('input[name="password"]').fill(PASSWORD)
  await page.locator('#converse-login button[type="submit"]').click()
  await page.locator('converse-roster').first().waitFor()
}

/** Opens the chat with `jid` from the roster. */
export async function openChat ({ page }: ConversePage, jid: string): Promise<void> {
  await page.locator(`converse-roster a.open-chat[data-jid="${jid}"], converse-roster [data-jid="${jid}"] a.open-chat`).first().click()
  await page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`).waitFor()
}

export async function sendTo ({ page }: ConversePage, jid: string, text: string): Promise<void> {
  const box = page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`)
  await box.fill(text)
  await box.press('Enter')
}

/** How many times `text` shows in the chat with `jid`. */
export async function shown ({ page }: ConversePage, jid: string, text: string): Promise<number> {
  return await page.locator(`converse-chat[jid="${jid}"] .chat-msg__text`, { hasText: text }).count()
}

export async function waitShown (p: ConversePage, jid: string, text: string): Promise<void> {
  await p.page.locator(`converse-chat[jid="${jid}"] .chat-msg__text`, { hasText: text }).first().waitFor()
}
