// Child program of bosh-memory.ts: logs COUNT users in over BOSH (XEP-0124,
// XEP-0206) at one URL, then keeps every session idle with exactly one empty
// request held, sending the next as soon as one is answered, until told to
// terminate them. It runs in its own process so that the measured processes
// (Megaphone, ejabberd) hold only the server side of each connection.
//
// HTTP is raw node:net, not undici: one keep-alive HTTP/1.1 connection per
// session carries its requests one after another, so the number of
// connections (and file descriptors on both sides) is exactly the number of
// sessions, a connection the server closes is seen and counted, and nothing
// pools, pipelines or retries behind the benchmark's back. Answers are read
// by Content-Length; both servers send it (XEP-0124 5 requires no chunking).
// Text matching on the bodies is enough for a benchmark.
//
// Parent -> child (IPC): {type: 'status'} | {type: 'terminate'}.
// Child -> parent: {type: 'ready', loginMs} | {type: 'status', status} |
//                  {type: 'terminated', status, terminateMs} | {type: 'error', message}.
import assert from 'node:assert'
import net from 'node:net'
import { finish, loginAll, runChild, toParent, type ErrorMessage, type LoginOptions } from './child.js'
import { pool } from './pool.js'

export interface BoshClientsOptions extends LoginOptions {
  /** The BOSH endpoint, e.g. http://127.0.0.1:5280/http-bind. */
  url: string
  /** `wait` asked for at session creation (s): how long the server holds an empty request. */
  waitSeconds: number
}

export interface BoshClientsStatus {
  /** Sessions logged in and not ended. */
  sessions: number
  /** Of those, sessions with a request open at the server right now. */
  held: number
  /** Held requests open longer than `wait` plus a grace period: the server sits on them. */
  overdue: number
  /** Held requests answered since all sessions were ready (wait expiry or data), each followed by the next. */
  answered: number
  /** Times a server closed a session's keep-alive connection (the next request opened a new one). */
  reconnects: number
  /** Sessions that failed or were terminated by the server, with the first few reasons. */
  failures: number
  firstFailures: string[]
}

export type BoshClientsRequest = { type: 'status' } | { type: 'terminate' }
export type BoshClientsMessage =
  | { type: 'ready', loginMs: number }
  | { type: 'status', status: BoshClientsStatus }
  | { type: 'terminated', status: BoshClientsStatus, terminateMs: number }
  | ErrorMessage

const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
const NS_XBOSH = 'urn:xmpp:xbosh'
/** A held request answered this long after `wait` is overdue. */
const OVERDUE_GRACE_MS = 10_000
const TERMINATE_TIMEOUT_MS = 30_000
const FIRST_FAILURES = 5

let reconnects = 0

interface HttpAnswer { status: number, text: string }

/** One HTTP/1.1 keep-alive connection, one request at a time. */
class HttpConnection {
  readonly #host: string
  readonly #port: number
  readonly #head: string
  #socket: net.Socket | null = null
  #buf: Buffer = Buffer.alloc(0)
  #pending: { resolve: (a: HttpAnswer) => void, reject: (err: Error) => void } | null = null
  #used = false

  constructor (url: URL, opts: { close?: boolean } = {}) {
    this.#host = url.hostname
    this.#port = Number(url.port || 80)
    this.#head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: text/xml; charset=utf-8\r\n` +
      (opts.close === true ? 'Connection: close\r\n' : '')
  }

  async post (body: string): Promise<HttpAnswer> {
    assert(this.#pending === null, 'one request at a time on a connection')
    if (this.#socket === null) this.#connect()
    const bytes = Buffer.from(body, 'utf8')
    this.#socket!.write(`${this.#head}Content-Length: ${bytes.length}\r\n\r\n`)
    this.#socket!.write(bytes)
    return await new Promise((resolve, reject) => { this.#pending = { resolve, reject } })
  }

  /** Closes the connection; a request still open fails with `why`. */
  destroy (why = 'connection destroyed by the client'): void {
    const socket = this.#socket
    this.#socket = null
    socket?.destroy()
    this.#fail(why)
  }

  #connect (): void {
    if (this.#used) reconnects++
    this.#used = true
    const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true })
    this.#socket = socket
    this.#buf = Buffer.alloc(0)
    let error = ''
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk))
    socket.on('error', (err) => { error = `: ${err.message}` })
    socket.on('close', () => {
      // A connection already given up (Connection: close, destroy()) fails nothing: a later request may be open on the next one.
      if (this.#socket !== socket) return
      this.#socket = null
      this.#fail(`the server closed the connection with a request open${error}`)
    })
  }

  #fail (why: string): void {
    const pending = this.#pending
    this.#pending = null
    pending?.reject(new Error(why))
  }

  #onData (socket: net.Socket, chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const end = this.#buf.indexOf('\r\n\r\n')
    if (end === -1) return
    const head = this.#buf.toString('latin1', 0, end)
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
    if (status === null || length === null || /\r\ntransfer-encoding:/i.test(head)) {
      socket.destroy()
      this.#fail(`unexpected HTTP answer (no status or no Content-Length): ${JSON.stringify(head.slice(0, 300))}`)
      return
    }
    const total = end + 4 + Number(length[1])
    if (this.#buf.length < total) return
    const text = this.#buf.toString('utf8', end + 4, total)
    this.#buf = this.#buf.subarray(total)
    // HTTP/1.1 6.3: the server ends the connection after this answer; the next request opens a new one.
    if (/\r\nconnection:\s*close/i.test(head) || head.startsWith('HTTP/1.0')) {
      if (this.#socket === socket) this.#socket = null
      socket.destroy()
    }
    const pending = this.#pending
    this.#pending = null
    pending?.resolve({ status: Number(status[1]), text })
  }
}

/** The server ended the session: a body with type='terminate'. */
class Terminated extends Error {
  constructor (readonly condition: string, readonly rid: number, text: string) {
    super(`session terminated by the server, condition '${condition}' (answer to rid ${rid}: ${text.slice(0, 300)})`)
  }
}

const attr = (tag: string, name: string): string | undefined =>
  new RegExp(`\\s${name}=(['"])(.*?)\\1`).exec(tag)?.[2]

function bodyTag (attrs: Record<string, string | number>, payload = ''): string {
  let tag = `<body xmlns='${NS_HTTPBIND}'`
  for (const [name, value] of Object.entries(attrs)) tag += ` ${name}='${value}'`
  if (Object.keys(attrs).some((name) => name.startsWith('xmpp:'))) tag += ` xmlns:xmpp='${NS_XBOSH}'`
  return payload === '' ? `${tag}/>` : `${tag}>${payload}</body>`
}

type State = 'login' | 'idle' | 'terminating' | 'ended'

class BenchBoshSession {
  readonly #opts: BoshClientsOptions
  readonly #url: URL
  readonly #conn: HttpConnection
  #rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
  #sid = ''
  /** Payload text received and not yet consumed by the login. */
  #inbox = ''
  state: State = 'login'
  /** When the open idle request was sent; null when none is open. */
  heldSince: number | null = null
  answered = 0
  failure: string | null = null
  #holding: Promise<void> = Promise.resolve()

  constructor (opts: BoshClientsOptions, url: URL) {
    this.#opts = opts
    this.#url = url
    this.#conn = new HttpConnection(url)
  }

  /** XEP-0206: session creation, SASL PLAIN, restart, bind, initial presence. */
  async login (user: string): Promise<void> {
    const { domain, password, loginTimeoutMs, waitSeconds } = this.#opts
    let step = 'session creation'
    const timer = setTimeout(() => this.#conn.destroy(`no login within ${loginTimeoutMs} ms`), loginTimeoutMs)
    try {
      // XEP-0124 7.1, XEP-0206 3
      const created = await this.#request({
        to: domain,
        'xml:lang': 'en',
        wait: waitSeconds,
        hold: 1,
        ver: '1.6',
        'xmpp:version': '1.0',
        content: 'text/xml; charset=utf-8'
      }, '', false)
      const sid = attr(created, 'sid')
      if (sid === undefined) throw new Error(`no sid in the session creation response: ${created.slice(0, 300)}`)
      this.#sid = sid
      step = 'stream features'
      const features = await this.#until(/<(?:stream:)?features\b[^>]*>[\s\S]*?<\/(?:stream:)?features>/)
      if (!features.includes('<mechanism>PLAIN</mechanism>')) throw new Error(`PLAIN not offered: ${features}`)
      step = 'SASL'
      await this.#request({}, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
        Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`)
      if (/<failure\b/.test(await this.#until(/<success\b|<failure\b/))) throw new Error('SASL failure')
      step = 'restart'
      // XEP-0206 5: the stream restart after SASL success.
      await this.#request({ to: domain, 'xml:lang': 'en', 'xmpp:restart': 'true' })
      await this.#until(/<(?:stream:)?features\b[^>]*>[\s\S]*?<\/(?:stream:)?features>/)
      step = 'bind'
      await this.#request({}, "<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
      const iq = await this.#until(/<iq\b[^>]*\bid=(['"])bind1\1[^>]*>/)
      if (attr(iq, 'type') !== 'result') throw new Error(`bind failed: ${iq}`)
      step = 'presence'
      // RFC 6121 4.2: initial presence; ejabberd echoes it to the resource.
      await this.#request({}, "<presence xmlns='jabber:client'/>")
      await this.#until(/<presence\b/)
    } catch (err) {
      this.state = 'ended'
      this.#conn.destroy()
      throw new Error(`${user}: ${step}: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      clearTimeout(timer)
    }
    this.#inbox = ''
  }

  /** Keeps one empty request held from now on: each answer is followed at once by the next request. */
  hold (): void {
    this.state = 'idle'
    this.#holding = (async () => {
      while (this.state === 'idle') {
        this.heldSince = Date.now()
        await this.#request({})
        this.heldSince = null
        this.answered++
        this.#inbox = ''
      }
    })().catch((err: unknown) => {
      // A terminate body answers the held request; a destroyed connection does not.
      if (err instanceof Terminated || this.state !== 'terminating') this.heldSince = null
      if (this.state === 'terminating') return
      this.state = 'ended'
      this.failure = err instanceof Error ? err.message : String(err)
    })
  }

  /**
   * XEP-0124 13: terminate, with unavailable presence. The held request
   * occupies the session's connection, so this one goes on a second
   * connection (as a browser's second one would), closed after the answer.
   */
  async terminate (): Promise<void> {
    if (this.state !== 'idle') return
    this.state = 'terminating'
    const rid = ++this.#rid
    const conn = new HttpConnection(this.#url, { close: true })
    const timer = setTimeout(() => {
      conn.destroy(`no answer to terminate within ${TERMINATE_TIMEOUT_MS} ms`)
      this.#conn.destroy(`held request not answered within ${TERMINATE_TIMEOUT_MS} ms of terminate`)
    }, TERMINATE_TIMEOUT_MS)
    try {
      const answer = await conn.post(bodyTag({ rid, sid: this.#sid, type: 'terminate' }, "<presence xmlns='jabber:client' type='unavailable'/>"))
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status} to terminate (rid ${rid}): ${answer.text.slice(0, 300)}`)
      const condition = attr(/^<body\b[^>]*>/.exec(answer.text)?.[0] ?? '', 'condition')
      if (condition !== undefined) throw new Error(`terminate (rid ${rid}) answered with condition '${condition}': ${answer.text.slice(0, 300)}`)
      // The held request is answered too (XEP-0124 13), which ends the holding loop.
      await this.#holding
      if (this.heldSince !== null) throw new Error('held request not answered after terminate')
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err)
    } finally {
      clearTimeout(timer)
      conn.destroy()
      this.#conn.destroy()
      this.state = 'ended'
    }
  }

  /** One request with the next rid; resolves to the body's text, its payload added to the inbox. */
  async #request (attrs: Record<string, string | number>, payload = '', withSid = true): Promise<string> {
    const rid = ++this.#rid
    const answer = await this.#conn.post(bodyTag(withSid ? { rid, sid: this.#sid, ...attrs } : { rid, ...attrs }, payload))
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status} to rid ${rid}: ${answer.text.slice(0, 300)}`)
    const tag = /^<body\b[^>]*>/.exec(answer.text)?.[0]
    if (tag === undefined) throw new Error(`answer to rid ${rid} is not a <body/>: ${answer.text.slice(0, 300)}`)
    // XEP-0124 17.2
    if (attr(tag, 'type') === 'terminate') throw new Terminated(attr(tag, 'condition') ?? '(none)', rid, answer.text)
    if (!tag.endsWith('/>')) this.#inbox += answer.text.slice(tag.length, answer.text.lastIndexOf('</body>'))
    return answer.text
  }

  /** Sends empty requests until the inbox matches `re`; returns the match and drops the inbox up to its end. */
  async #until (re: RegExp): Promise<string> {
    for (;;) {
      const m = re.exec(this.#inbox)
      if (m !== null) {
        this.#inbox = this.#inbox.slice(m.index + m[0].length)
        return m[0]
      }
      await this.#request({})
    }
  }
}

function status (sessions: BenchBoshSession[], waitSeconds: number): BoshClientsStatus {
  const now = Date.now()
  const overdueAt = now - waitSeconds * 1000 - OVERDUE_GRACE_MS
  const failed = sessions.filter((s) => s.failure !== null)
  return {
    sessions: sessions.filter((s) => s.state === 'idle').length,
    held: sessions.filter((s) => s.heldSince !== null).length,
    overdue: sessions.filter((s) => s.heldSince !== null && s.heldSince < overdueAt).length,
    answered: sessions.reduce((sum, s) => sum + s.answered, 0),
    reconnects,
    failures: failed.length,
    firstFailures: failed.slice(0, FIRST_FAILURES).map((s) => s.failure!)
  }
}

runChild('bosh-clients', 'bosh-memory', async () => {
  const opts = JSON.parse(process.argv[2] ?? '') as BoshClientsOptions
  const url = new URL(opts.url)
  const sessions: BenchBoshSession[] = []
  process.on('message', (msg: BoshClientsRequest) => {
    if (msg.type === 'status') {
      void toParent<BoshClientsMessage>({ type: 'status', status: status(sessions, opts.waitSeconds) })
    } else if (msg.type === 'terminate') {
      finish('terminate', async (): Promise<BoshClientsMessage> => {
        const startedAt = Date.now()
        await pool(sessions.length, opts.concurrency, async (i) => { await sessions[i]!.terminate() })
        return { type: 'terminated', status: status(sessions, opts.waitSeconds), terminateMs: Date.now() - startedAt }
      })
    }
  })
  await loginAll(opts, async (user) => {
    const session = new BenchBoshSession(opts, url)
    await session.login(user)
    session.hold()
    sessions.push(session)
  })
})
