// A raw XMPP-over-WebSocket client (RFC 7395) for the tests: `ws` and hand-
// written elements, so that each test sees exactly which messages cross,
// and can misbehave on purpose. Every wait is bounded.
import WebSocket from 'ws'
import type { IncomingMessage } from 'node:http'
import { testEjabberd } from './ejabberd.js'

export const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
export const CLOSE = `<close xmlns='${FRAMING}'/>`

export function openElement (to = testEjabberd().domain): string {
  return `<open xmlns='${FRAMING}' to='${to}' version='1.0'/>`
}

export interface WsOptions {
  protocols?: string[]
  origin?: string
  /** Answer pings (default true); false plays a client whose network died. */
  autoPong?: boolean
  headers?: Record<string, string>
  /** Offer RFC 7692 compression (default false). */
  perMessageDeflate?: boolean
}

/** The upgrade refused: its HTTP status and body. */
export interface Refused { status: number, body: string }

export class WsClient {
  readonly ws: WebSocket
  readonly received: string[] = []
  /** Resolves with the close code once the WebSocket is closed. */
  readonly closed: Promise<number>
  #waiters: Array<() => void> = []
  #read = 0

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.received.push(isBinary ? `<binary ${data.length}>` : data.toString())
      for (const w of this.#waiters.splice(0)) w()
    })
    this.closed = new Promise((resolve) => ws.on('close', (code: number) => {
      resolve(code)
      for (const w of this.#waiters.splice(0)) w()
    }))
    ws.on('error', () => {})
  }

  /** Connects with the `xmpp` subprotocol unless told otherwise; rejects with a Refused when the upgrade is refused. */
  static async connect (url: string, opts: WsOptions = {}): Promise<WsClient> {
    const ws = new WebSocket(url, opts.protocols ?? ['xmpp'], {
      ...(opts.origin === undefined ? {} : { origin: opts.origin }),
      autoPong: opts.autoPong ?? true,
      headers: opts.headers,
      perMessageDeflate: opts.perMessageDeflate ?? false,
      handshakeTimeout: 10_000
    })
    return await new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)))
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = ''
        res.on('data', (c: Buffer) => { body += c.toString() })
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode ?? 0}`), { status: res.statusCode ?? 0, body })))
        res.on('error', () => reject(new Error('upgrade refused')))
      })
      ws.once('error', reject)
    })
  }

  send (text: string | Buffer, binary = false): void { this.ws.send(text, { binary }) }

  /** The next message not yet read (bounded wait). */
  async next (timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    while (this.#read >= this.received.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed; no message after ${JSON.stringify(this.received.slice(-2))}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms; last: ${JSON.stringify(this.received.slice(-2))}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.received[this.#read++] as string
  }

  /** Reads messages until one matches (bounded); returns it. */
  async until (pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()))
      if (pattern.test(m)) return m
    }
  }

  /** The close code, waiting at most timeoutMs. */
  async closeCode (timeoutMs = 10_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([this.closed, new Promise<number>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`WebSocket not closed within ${timeoutMs} ms`)), timeoutMs)
    })])
    clearTimeout(timer)
    return code
  }

  /**
   * Opens the stream, authenticates (SASL PLAIN), restarts, binds `resource`
   * and sends initial presence; resolves with the full JID.
   */
  async login (user: string, password: string, resource = 'ws'): Promise<string> {
    const { domain } = testEjabberd()
    this.send(openElement(domain))
    await this.until(/^<open /)
    await this.until(/<mechanism>PLAIN<\/mechanism>/)
    const plain = Buffer.from(`\0${user}\0${password}`).toString('base64')
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`)
    await this.until(/^<success /)
    this.send(openElement(domain))
    await this.until(/^<open /)
    await this.until(/urn:ietf:params:xml:ns:xmpp-bind/)
    this.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`)
    const bound = await this.until(/id='bind1'/)
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1]
    if (jid === undefined) throw new Error(`bind failed: ${bound}`)
    this.send('<presence/>')
    return jid
  }
}

/**
 * Connects and logs in each of `users` at `url`, one after another (so
 * that the server places them in this order); resolves to the clients and
 * their full JIDs, in the same order.
 */
export async function loginInOrder (url: string, users: readonly string[], password: string): Promise<{ clients: WsClient[], jids: string[] }> {
  const clients: WsClient[] = []
  const jids: string[] = []
  for (const user of users) {
    const c = await WsClient.connect(url)
    jids.push(await c.login(user, password))
    clients.push(c)
  }
  return { clients, jids }
}
