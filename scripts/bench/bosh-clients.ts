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
// The BOSH protocol and the login are the tests' client (scripts/clients/bosh.ts)
// on that transport.
//
// Parent -> child (IPC): {type: 'status'} | {type: 'terminate'}.
// Child -> parent: {type: 'ready', loginMs} | {type: 'status', status} |
//                  {type: 'terminated', status, terminateMs} | {type: 'error', message}.
import assert from 'node:assert'
import net from 'node:net'
import { finish, loginAll, runChild, toParent, type ErrorMessage, type LoginOptions } from './child.js'
import { pool } from './pool.js'
import type { Element } from '../../lib/xml.js'
import { BoshSession, parseBody, type BodyAttrs, type HttpAnswer } from '../clients/bosh.js'

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

/** A held request answered this long after `wait` is overdue. */
const OVERDUE_GRACE_MS = 10_000
const TERMINATE_TIMEOUT_MS = 30_000
const FIRST_FAILURES = 5

let reconnects = 0

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

type State = 'login' | 'idle' | 'terminating' | 'ended'

/** The shared BOSH client (scripts/clients/bosh.ts) on one keep-alive connection, then idle with one request held. */
class BenchBoshSession extends BoshSession {
  readonly #opts: BoshClientsOptions
  readonly #url: URL
  readonly #conn: HttpConnection
  state: State = 'login'
  /** When the open idle request was sent; null when none is open. */
  heldSince: number | null = null
  answered = 0
  failure: string | null = null
  #holding: Promise<void> = Promise.resolve()

  constructor (opts: BoshClientsOptions, url: URL) {
    const conn = new HttpConnection(url)
    super(async (text) => await conn.post(text), { domain: opts.domain, wait: opts.waitSeconds, hold: 1 })
    this.#opts = opts
    this.#url = url
    this.#conn = conn
  }

  /** XEP-0124 8: the content type Megaphone answers with, named at creation as a browser's client may. */
  override async create (extra: BodyAttrs = {}): Promise<Element> {
    return await super.create({ content: 'text/xml; charset=utf-8', ...extra })
  }

  /** XEP-0206: session creation, SASL PLAIN, restart, bind, initial presence, bounded by loginTimeoutMs. */
  async loginUser (user: string): Promise<void> {
    const { password, loginTimeoutMs } = this.#opts
    const timer = setTimeout(() => this.#conn.destroy(`no login within ${loginTimeoutMs} ms`), loginTimeoutMs)
    try {
      await this.login(user, password, 'bench')
    } catch (err) {
      this.state = 'ended'
      this.#conn.destroy()
      throw new Error(`${user}: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Keeps one empty request held from now on: each answer is followed at once by the next request. */
  hold (): void {
    this.state = 'idle'
    this.#holding = (async () => {
      while (this.state === 'idle') {
        this.heldSince = Date.now()
        const el = await this.request()
        // XEP-0124 17.2
        if (el.attrs.type === 'terminate') throw new Terminated(String(el.attrs.condition ?? '(none)'), this.rid, el.toString())
        this.heldSince = null
        this.answered++
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
  async end (): Promise<void> {
    if (this.state !== 'idle') return
    this.state = 'terminating'
    const { rid, text } = this.next("<presence xmlns='jabber:client' type='unavailable'/>", { type: 'terminate' })
    const conn = new HttpConnection(this.#url, { close: true })
    const timer = setTimeout(() => {
      conn.destroy(`no answer to terminate within ${TERMINATE_TIMEOUT_MS} ms`)
      this.#conn.destroy(`held request not answered within ${TERMINATE_TIMEOUT_MS} ms of terminate`)
    }, TERMINATE_TIMEOUT_MS)
    try {
      const answer = await conn.post(text)
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status} to terminate (rid ${rid}): ${answer.text.slice(0, 300)}`)
      const condition = parseBody(answer).attrs.condition as string | undefined
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
        await pool(sessions.length, opts.concurrency, async (i) => { await sessions[i]!.end() })
        return { type: 'terminated', status: status(sessions, opts.waitSeconds), terminateMs: Date.now() - startedAt }
      })
    }
  })
  await loginAll(opts, async (user) => {
    const session = new BenchBoshSession(opts, url)
    await session.loginUser(user)
    session.hold()
    sessions.push(session)
  })
})
