// Child program of rss.ts: logs COUNT users in over XMPP-over-WebSocket
// (RFC 7395) at one URL, Megaphone's or ejabberd's own, then keeps every
// session idle and open until told to close them. The counterpart of
// bosh-clients.ts (same messages with the parent, same status), in a process
// of its own so that the measured processes hold only the server side of
// each connection. One `ws` WebSocket per session, no compression.
//
// Parent -> child (IPC): {type: 'status'} | {type: 'terminate'}.
// Child -> parent: {type: 'ready', loginMs} | {type: 'status', status} |
//                  {type: 'terminated', status, terminateMs} | {type: 'error', message}.
import WebSocket from 'ws'
import { finish, loginAll, runChild, toParent } from './child.js'
import { pool } from './pool.js'
import type { BoshClientsMessage, BoshClientsRequest, BoshClientsStatus } from './bosh-clients.js'
import type { LoginOptions } from './child.js'

export interface WsClientsOptions extends LoginOptions {
  /** ws://host:port/path of the endpoint. */
  url: string
}

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
const CLOSE_TIMEOUT_MS = 30_000
const FIRST_FAILURES = 5

type State = 'login' | 'idle' | 'closing' | 'ended'

class WsSession {
  state: State = 'login'
  failure: string | null = null
  readonly #ws: WebSocket
  readonly #opts: WsClientsOptions
  #inbox: string[] = []
  #wake: (() => void) | null = null
  readonly closed: Promise<void>

  constructor (opts: WsClientsOptions) {
    this.#opts = opts
    this.#ws = new WebSocket(opts.url, ['xmpp'], { perMessageDeflate: false, handshakeTimeout: opts.loginTimeoutMs })
    this.#ws.on('message', (data: Buffer) => {
      this.#inbox.push(data.toString())
      this.#wake?.()
    })
    this.#ws.on('error', (err) => { this.failure ??= `WebSocket error: ${err.message}` })
    this.closed = new Promise((resolve) => this.#ws.on('close', (code: number) => {
      if (this.state !== 'closing' && this.state !== 'ended') this.failure ??= `closed by the server (${code})`
      this.state = 'ended'
      this.#wake?.()
      resolve()
    }))
  }

  async #until (pattern: RegExp, deadline: number): Promise<string> {
    for (;;) {
      const i = this.#inbox.findIndex((m) => pattern.test(m))
      if (i !== -1) {
        const m = this.#inbox[i] as string
        this.#inbox = this.#inbox.slice(i + 1)
        return m
      }
      if (this.state === 'ended') throw new Error(`closed while waiting for ${String(pattern)}: ${this.failure ?? ''}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${String(pattern)} within the login timeout`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); this.#wake = null; resolve() }
      })
    }
  }

  /** RFC 7395 3.4: open, SASL PLAIN, restart, bind, initial presence. */
  async login (user: string): Promise<void> {
    const { domain, password, loginTimeoutMs } = this.#opts
    const deadline = Date.now() + loginTimeoutMs
    try {
      await new Promise<void>((resolve, reject) => {
        this.#ws.once('open', () => resolve())
        this.#ws.once('error', reject)
        this.#ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode ?? 0}`)))
      })
      const open = `<open xmlns='${FRAMING}' to='${domain}' version='1.0'/>`
      this.#ws.send(open)
      await this.#until(/<mechanism>PLAIN<\/mechanism>/, deadline)
      this.#ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`)
      await this.#until(/^<success /, deadline)
      this.#ws.send(open)
      await this.#until(/urn:ietf:params:xml:ns:xmpp-bind/, deadline)
      this.#ws.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
      await this.#until(/id='bind'/, deadline)
      this.#ws.send('<presence/>')
      this.#inbox = []
      this.state = 'idle'
    } catch (err) {
      this.state = 'ended'
      this.#ws.terminate()
      throw new Error(`${user}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /** RFC 7395 3.6: unavailable presence, <close/>; the server answers <close/> and closes. */
  async close (): Promise<void> {
    if (this.state !== 'idle') return
    this.state = 'closing'
    this.#ws.send("<presence type='unavailable'/>")
    this.#ws.send(`<close xmlns='${FRAMING}'/>`)
    const timer = setTimeout(() => {
      this.failure ??= `not closed within ${CLOSE_TIMEOUT_MS} ms of <close/>`
      this.#ws.terminate()
    }, CLOSE_TIMEOUT_MS)
    await this.closed
    clearTimeout(timer)
  }
}

function status (sessions: readonly WsSession[]): BoshClientsStatus {
  const idle = sessions.filter((s) => s.state === 'idle').length
  const failed = sessions.filter((s) => s.failure !== null)
  // The parent's check asks for one "held" per session: for a WebSocket, its open connection.
  return { sessions: idle, held: idle, overdue: 0, answered: 0, reconnects: 0, failures: failed.length, firstFailures: failed.slice(0, FIRST_FAILURES).map((s) => s.failure as string) }
}

runChild('ws-clients', 'rss', async () => {
  const opts = JSON.parse(process.argv[2] ?? '') as WsClientsOptions
  const sessions: WsSession[] = []
  process.on('message', (msg: BoshClientsRequest) => {
    if (msg.type === 'status') {
      void toParent<BoshClientsMessage>({ type: 'status', status: status(sessions) })
    } else if (msg.type === 'terminate') {
      finish('terminate', async (): Promise<BoshClientsMessage> => {
        const startedAt = Date.now()
        await pool(sessions.length, opts.concurrency, async (i) => { await sessions[i]!.close() })
        return { type: 'terminated', status: status(sessions), terminateMs: Date.now() - startedAt }
      })
    }
  })
  await loginAll(opts, async (user) => {
    const session = new WsSession(opts)
    await session.login(user)
    sessions.push(session)
  })
})
