// The client side of BOSH (XEP-0124) with XMPP over it (XEP-0206), for the
// tests and the benchmarks, over any transport that POSTs a body and returns
// the answer: undici in the tests (test/helpers/bosh-http.ts), one raw
// keep-alive connection per session in the memory benchmark
// (scripts/bench/bosh-clients.ts). A BoshSession keeps the sid and the next
// rid, builds the session creation, restart and terminate bodies, reads every
// answer, and logs in with the shared XMPP login machine.
import { escapeXML, parseElement, type Element } from '../../lib/xml.js'
import { XmppLogin, LoginError, type Credentials } from './xmpp-login.js'

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
export const NS_XBOSH = 'urn:xmpp:xbosh'

export type BodyAttrs = Record<string, string | number | undefined>

/** `<body xmlns=httpbind a='v' …>payload</body>`; undefined attributes are left out, values escaped. */
export function body (attrs: BodyAttrs, payload = ''): string {
  let head = `<body xmlns='${NS_HTTPBIND}'`
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) head += ` ${k}='${escapeXML(String(v))}'`
  if (Object.keys(attrs).some((k) => k.startsWith('xmpp:'))) head += ` xmlns:xmpp='${NS_XBOSH}'`
  return payload === '' ? `${head}/>` : `${head}>${payload}</body>`
}

/** What a POST came back with. */
export interface HttpAnswer {
  status: number
  text: string
}

/** POSTs one body; resolves to the answer, whatever its status. */
export type BoshTransport = (text: string) => Promise<HttpAnswer>

/** Parses an answer, failing clearly when it is not a 200 with a <body/>. */
export function parseBody (answer: HttpAnswer): Element {
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`)
  const el = parseElement(answer.text)
  if (!el.is('body', NS_HTTPBIND)) throw new Error(`not a body: ${answer.text.slice(0, 200)}`)
  return el
}

export interface SessionOptions {
  /** The XMPP domain: the session creation's `to`. */
  domain: string
  /** `wait` asked for (s). Default 10. */
  wait?: number
  /** `hold` asked for. Default 1. */
  hold?: number
  /** Ask for acknowledgements (XEP-0124 9). Default no. */
  ack?: boolean
  /** xml:lang. Default en. */
  lang?: string
}

/**
 * One BOSH session's protocol state. `request` sends the next rid; each
 * answer is parsed and handed to `received`, which a subclass overrides to
 * keep what it wants (the test client's inbox).
 */
export class BoshSession {
  readonly opts: Required<SessionOptions>
  sid = ''
  /** The rid of the last request sent: the next one is rid + 1. */
  rid: number
  jid = ''
  readonly #transport: BoshTransport

  constructor (transport: BoshTransport, opts: SessionOptions) {
    this.#transport = transport
    this.opts = { wait: 10, hold: 1, ack: false, lang: 'en', ...opts }
    // XEP-0124 7.1: random, and far enough below 2^53 - 1 never to reach it.
    this.rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
  }

  /** XEP-0124 7.1, XEP-0206 3: the session creation request (with the current rid); `extra` adds or overrides attributes. */
  async create (extra: BodyAttrs = {}): Promise<Element> {
    const text = body({
      rid: this.rid,
      to: this.opts.domain,
      'xml:lang': this.opts.lang,
      wait: this.opts.wait,
      hold: this.opts.hold,
      ver: '1.6',
      'xmpp:version': '1.0',
      ack: this.opts.ack ? 1 : undefined,
      ...extra
    })
    const el = await this.#post(text)
    if (el.attrs.type === 'terminate') throw new Error(`session creation refused: ${el.attrs.condition as string}`)
    this.sid = el.attrs.sid as string
    return el
  }

  /** One request with the next rid. */
  async request (payload = '', attrs: BodyAttrs = {}): Promise<Element> {
    const { text } = this.next(payload, attrs)
    return await this.#post(text)
  }

  /** Takes the next rid for a request of this session: its body, to send on another transport. */
  next (payload = '', attrs: BodyAttrs = {}): { rid: number, text: string } {
    const rid = ++this.rid
    return { rid, text: body({ rid, sid: this.sid, ...attrs }, payload) }
  }

  /** XEP-0206 5: the stream restart after SASL success. */
  async restart (): Promise<Element> {
    return await this.request('', { 'xmpp:restart': 'true', to: this.opts.domain, 'xml:lang': this.opts.lang })
  }

  /** XEP-0124 13: terminate, with `payload` (unavailable presence by default). */
  async terminate (payload = "<presence xmlns='jabber:client' type='unavailable'/>"): Promise<Element> {
    return await this.request(payload, { type: 'terminate' })
  }

  /**
   * XEP-0206: session creation, SASL PLAIN, restart, bind, initial presence.
   * Empty requests poll for what the server has not sent yet; an answer of
   * type terminate fails the login.
   */
  async login (user: string, password: string, resource: string): Promise<void> {
    const credentials: Credentials = { user, password, resource }
    // What the login asked for last; an empty request (a poll) when nothing.
    const asked: { next: (() => Promise<Element>) | null } = { next: null }
    const login = new XmppLogin(credentials, {
      open: (restart) => { asked.next = restart ? async () => await this.restart() : async () => await this.create() },
      send: (xml) => { asked.next = async () => await this.request(xml) }
    })
    login.start()
    for (;;) {
      const step = asked.next ?? (async () => await this.request())
      asked.next = null
      const el = await step()
      if (el.attrs.type === 'terminate') throw new LoginError(login.step, `${user}: session terminated (${String(el.attrs.condition ?? 'no condition')})`)
      let done = false
      const rest: Element[] = []
      for (const child of el.children) {
        if (typeof child === 'string') continue
        if (done) rest.push(child)
        else done = login.receive(child.toString())
      }
      if (done) {
        this.jid = login.jid
        this.loggedIn(rest)
        return
      }
    }
  }

  /** Called with each answer's body; the default keeps nothing. */
  protected received (_body: Element): void {}

  /** Called after login with the elements that came after the login's last one. */
  protected loggedIn (_rest: Element[]): void {}

  async #post (text: string): Promise<Element> {
    const el = parseBody(await this.#transport(text))
    this.received(el)
    return el
  }
}
