// Raw BOSH over real HTTP (undici) for the system tests: one POST at a
// time (postBody), or a whole client that logs in and keeps a request held
// (BoshClient, the shared client of scripts/clients/bosh.ts with a test's
// inbox). Every <body/> any of them receives is recorded (other transports
// call recordBody), and checkBodiesAgainstSchema(t), the last test of a file,
// validates them all with xmllint against ../shared/schemas/httpbind.xsd
// (XEP-0124's schema).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Test } from 'tap'
import { request } from 'undici'
import { escapeXML, type Element } from '../../lib/xml.js'
import { BoshSession, NS_HTTPBIND, type BodyAttrs, type SessionOptions } from '../../scripts/clients/bosh.js'
import { PROJECT_ROOT } from './ejabberd.js'

export { body, NS_HTTPBIND, NS_XBOSH, parseBody } from '../../scripts/clients/bosh.js'
export { bindRequest, chat, saslPlain } from '../../scripts/clients/xmpp-login.js'
export const SCHEMA = join(PROJECT_ROOT, '../shared/schemas/httpbind.xsd')
/** The namespace of the one document that wraps every body for validation. */
const NS_BODIES = 'urn:megaphone:test:bodies'

const seen: string[] = []

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

export interface PostOptions {
  /** Content-Type; null sends none. Default text/xml; charset=utf-8. */
  contentType?: string | null
  /** Bounds the whole exchange. Default 30 s. */
  timeoutMs?: number
  signal?: AbortSignal
  headers?: Record<string, string>
}

/** POSTs `text` as is; records the answer if it is a body. */
export async function postBody (url: string, text: string | Buffer, opts: PostOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...opts.headers }
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

export interface ClientOptions extends SessionOptions {
  /** HTTP headers on the session creation request only (X-Forwarded-For, say). */
  creationHeaders?: Record<string, string>
}

/**
 * The BOSH client of scripts/clients/bosh.ts over undici, for the tests: logs
 * in with SASL PLAIN, and while started keeps one request held, collecting
 * every element that arrives into `inbox`.
 */
export class BoshClient extends BoshSession {
  readonly url: string
  inbox: Element[] = []
  terminated: string | null = null
  #polling = false
  #waiters = new Set<() => void>()
  readonly #creating: { now: boolean }

  constructor (url: string, opts: ClientOptions) {
    const creating = { now: false }
    super(async (text) => await postBody(url, text, { headers: creating.now ? opts.creationHeaders : undefined }), opts)
    this.url = url
    this.#creating = creating
  }

  override async create (extra?: BodyAttrs): Promise<Element> {
    this.#creating.now = true
    try {
      return await super.create(extra)
    } finally {
      this.#creating.now = false
    }
  }

  /** XEP-0206: create, SASL PLAIN, restart, bind, initial presence (and its echo). The inbox then holds only what came after. */
  override async login (user: string, password: string, resource = 'test'): Promise<void> {
    await super.login(user, password, resource)
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

  override async terminate (payload?: string): Promise<Element> {
    this.#polling = false
    return await super.terminate(payload)
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

  protected override received (el: Element): void {
    if (el.attrs.type === 'terminate') this.terminated = (el.attrs.condition as string | undefined) ?? 'normal'
    for (const child of el.children) if (typeof child !== 'string') this.inbox.push(child)
    this.#notify()
  }

  protected override loggedIn (rest: Element[]): void {
    this.inbox = rest
  }

  #notify (): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const w of waiters) w()
  }
}
