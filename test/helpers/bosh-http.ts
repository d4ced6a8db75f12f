// Raw BOSH over real HTTP for the integration tests: one POST at a time
// (postBody), or a whole client that logs in and keeps a request held
// (BoshClient). Every <body/> any of them receives is recorded (other
// transports call recordBody), and checkBodiesAgainstSchema(t), the last test
// of a file, validates them all with xmllint against
// ../shared/schemas/httpbind.xsd (XEP-0124's schema).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Test } from 'tap'
import { request } from 'undici'
import { parseElement, escapeXML, type Element } from '../../lib/xml.js'
import { PROJECT_ROOT } from './ejabberd.js'

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
export const NS_XBOSH = 'urn:xmpp:xbosh'
export const SCHEMA = join(PROJECT_ROOT, '../shared/schemas/httpbind.xsd')
/** The namespace of the one document that wraps every body for validation. */
const NS_BODIES = 'urn:megaphone:test:bodies'

const seen: string[] = []

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

/** POSTs `text` as is; records the answer if it is a body. */
export async function postBody (url: string, text: string | Buffer, opts: { contentType?: string | null, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = {}
  if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'text/xml; charset=utf-8'
  const res = await request(url, {
    method: 'POST',
    body: text,
    headers,
    signal: opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    headersTimeout: opts.timeoutMs ?? 30_000,
    bodyTimeout: opts.timeoutMs ?? 30_000
  })
  const answer = { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  recordBody(answer.text)
  return answer
}

/** Keeps a response for checkBodiesAgainstSchema, if it is a body (other clients' transports call this too). */
export function recordBody (text: string): void {
  if (text.startsWith('<body')) seen.push(text)
}

/** `<body xmlns=httpbind a='v' …>payload</body>` */
export function body (attrs: Record<string, string | number | undefined>, payload = ''): string {
  let head = `<body xmlns='${NS_HTTPBIND}'`
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) head += ` ${k}='${escapeXML(String(v))}'`
  if (Object.keys(attrs).some((k) => k.startsWith('xmpp:'))) head += ` xmlns:xmpp='${NS_XBOSH}'`
  return payload === '' ? `${head}/>` : `${head}>${payload}</body>`
}

/** A chat message stanza, escaped. */
export function chat (to: string, text: string): string {
  return `<message xmlns='jabber:client' type='chat' to='${escapeXML(to)}'><body>${escapeXML(text)}</body></message>`
}

/** Parses a response body, failing clearly when it is not one. */
export function parseBody (answer: HttpAnswer): Element {
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`)
  const el = parseElement(answer.text)
  if (!el.is('body', NS_HTTPBIND)) throw new Error(`not a body: ${answer.text.slice(0, 200)}`)
  return el
}

/**
 * The last test of a file (call it after the others): validates every body
 * received so far with xmllint. Without ../shared (a user's clone), says so
 * and skips: the schema is not part of the project.
 */
export function checkBodiesAgainstSchema (t: Test): void {
  const skip = existsSync(SCHEMA) ? false : `schema check skipped: ${SCHEMA} not found (../shared is beside the project in CI, not in a user's clone)`
  t.test('every response body validates against httpbind.xsd (XEP-0124 schema)', { skip }, async (t) => {
    const bodies = seen.splice(0)
    t.ok(bodies.length > 0, 'bodies were received')
    const failures = await validateBodies(bodies)
    t.equal(failures.text, '', `all ${bodies.length} bodies validate`, { bodies: failures.bodies.slice(0, 5).map((i) => bodies[i]?.slice(0, 2000)) })
  })
}

/**
 * Validates every body in one xmllint run: the bodies become the children of
 * one document whose schema imports httpbind.xsd and allows any number of its
 * <body/> elements, each validated against the same declaration as a root
 * <body/> would be. Resolves to xmllint's complaints ('' if none) and the
 * indexes of the bodies they name.
 */
export async function validateBodies (bodies: string[]): Promise<{ text: string, bodies: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-bodies-'))
  try {
    const wrapper = join(dir, 'bodies.xsd')
    writeFileSync(wrapper, `<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' xmlns:hb='${NS_HTTPBIND}' targetNamespace='${NS_BODIES}' elementFormDefault='qualified'>
  <xs:import namespace='${NS_HTTPBIND}' schemaLocation='${escapeXML(pathToFileURL(SCHEMA).href)}'/>
  <xs:element name='bodies'><xs:complexType><xs:sequence>
    <xs:element ref='hb:body' minOccurs='0' maxOccurs='unbounded'/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
`)
    // Each body starts on a line of its own; firstLines[i] is body i's.
    const firstLines: number[] = []
    let line = 2
    const parts = [`<bodies xmlns='${NS_BODIES}'>`]
    for (const text of bodies) {
      firstLines.push(line)
      parts.push(text)
      line += text.split('\n').length
    }
    parts.push('</bodies>\n')
    const document = join(dir, 'bodies.xml')
    writeFileSync(document, parts.join('\n'))
    const text = await xmllint(wrapper, document)
    const lines = [...text.matchAll(/bodies\.xml:(\d+):/g)].map((m) => Number(m[1]))
    const named = new Set(lines.map((n) => firstLines.findLastIndex((first) => first <= n)).filter((i) => i >= 0))
    return { text, bodies: [...named] }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function xmllint (schema: string, document: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('xmllint', ['--noout', '--schema', schema, document], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('xmllint not found: install libxml2-utils (bash scripts/setup.sh deps)'))
        return
      }
      // xmllint prints "FILE validates" for a good document; keep only the rest.
      const bad = stderr.split('\n').filter((l) => l !== '' && !l.endsWith(' validates'))
      resolve(bad.length === 0 ? '' : bad.join('\n') + '\n')
    })
  })
}

export interface ClientOptions {
  domain: string
  wait?: number
  hold?: number
  ack?: boolean
  lang?: string
}

/**
 * A BOSH client written against XEP-0124/0206 for the tests: logs in with
 * SASL PLAIN, and while started keeps one request held, collecting every
 * element that arrives into `inbox`.
 */
export class BoshClient {
  readonly url: string
  readonly opts: Required<ClientOptions>
  sid = ''
  rid: number
  jid = ''
  inbox: Element[] = []
  terminated: string | null = null
  #polling = false
  #waiters = new Set<() => void>()

  constructor (url: string, opts: ClientOptions) {
    this.url = url
    this.opts = { wait: 10, hold: 1, ack: false, lang: 'en', ...opts }
    this.rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
  }

  /** One request with the next rid; its payload elements go to the inbox. */
  async request (payload = '', attrs: Record<string, string | number | undefined> = {}): Promise<Element> {
    const rid = ++this.rid
    const el = parseBody(await postBody(this.url, body({ rid, sid: this.sid, ...attrs }, payload)))
    this.#receive(el)
    return el
  }

  async create (extra: Record<string, string | number | undefined> = {}): Promise<Element> {
    const rid = this.rid
    const el = parseBody(await postBody(this.url, body({
      rid,
      to: this.opts.domain,
      'xml:lang': this.opts.lang,
      wait: this.opts.wait,
      hold: this.opts.hold,
      ver: '1.6',
      'xmpp:version': '1.0',
      ack: this.opts.ack ? 1 : undefined,
      ...extra
    })))
    if (el.attrs.type === 'terminate') throw new Error(`session creation refused: ${el.attrs.condition as string}`)
    this.sid = el.attrs.sid
    this.#receive(el)
    return el
  }

  /** XEP-0206: create, SASL PLAIN, restart, bind, initial presence. */
  async login (user: string, password: string, resource = 'test'): Promise<void> {
    await this.create()
    await this.until((el) => el.is('features'), 'stream features')
    const plain = Buffer.from(`\0${user}\0${password}`).toString('base64')
    await this.request(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`)
    await this.until((el) => el.is('success') || el.is('failure'), 'SASL result')
    if (this.inbox.some((el) => el.is('failure'))) throw new Error(`${user}: SASL failure`)
    this.inbox = []
    await this.request('', { 'xmpp:restart': 'true', to: this.opts.domain })
    await this.until((el) => el.is('features'), 'restarted stream features')
    await this.request(`<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeXML(resource)}</resource></bind></iq>`)
    const bound = await this.until((el) => el.is('iq') && el.attrs.id === 'bind', 'bind result')
    this.jid = bound.getChild('bind')?.getChildText('jid') ?? ''
    this.inbox = []
    await this.request("<presence xmlns='jabber:client'/>")
  }

  /** Keeps one empty request held until stop() or the session ends. */
  startPolling (): void {
    if (this.#polling) return
    this.#polling = true
    const loop = async (): Promise<void> => {
      while (this.#polling && this.terminated === null) await this.request()
    }
    loop().catch((err) => { this.terminated = `poll failed: ${(err as Error).message}`; this.#notify() })
  }

  stopPolling (): void { this.#polling = false }

  /** Sends one request with payload (answered at once when a poll is also held). */
  async send (payload: string): Promise<void> {
    await this.request(payload)
  }

  async terminate (payload = "<presence xmlns='jabber:client' type='unavailable'/>"): Promise<Element> {
    this.#polling = false
    return await this.request(payload, { type: 'terminate' })
  }

  /** Waits (bounded) for an element in the inbox, polling if nothing is held. */
  async until (pred: (el: Element) => boolean, what: string, timeoutMs = 15_000): Promise<Element> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.inbox.find(pred)
      if (found !== undefined) return found
      if (this.terminated !== null) throw new Error(`waiting for ${what}: session terminated (${this.terminated})`)
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      if (this.#polling) await this.#nextArrival(deadline - Date.now())
      else await this.request()
    }
  }

  async #nextArrival (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms))
      function done (): void { clearTimeout(timer); resolve() }
      this.#waiters.add(done)
    })
  }

  #receive (el: Element): void {
    if (el.attrs.type === 'terminate') this.terminated = (el.attrs.condition as string | undefined) ?? 'normal'
    for (const child of el.children) if (typeof child !== 'string') this.inbox.push(child)
    this.#notify()
  }

  #notify (): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const w of waiters) w()
  }
}
