// One XMPP login as a step machine over the text of each top-level element
// the server sends: SASL PLAIN (RFC 6120 6), the stream restart after it
// (6.4.6), resource binding (7) and initial presence, which the server
// echoes to the resource (RFC 6121 4.2.2). It does no I/O: its transport (a
// connection ID of the link, a BOSH session, a TCP stream) hands it each
// element and carries out `open` and `send`. Tests and benchmarks log in
// through it; a benchmark drops it once logged in, keeping nothing.
import { escapeXML, unescapeXML } from '../../lib/xml.js'

export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
/** The id of the bind request. */
export const BIND_ID = 'bind1'

export type LoginStep = 'features' | 'sasl' | 'restart' | 'bind' | 'presence' | 'done'

export interface Credentials {
  user: string
  password: string
  /** The resource to bind; '' lets the server pick one. */
  resource: string
}

export interface LoginTransport {
  /** Starts the stream, or (restart) starts a new one after SASL success. */
  open: (restart: boolean) => void
  /** Sends one top-level element. */
  send: (xml: string) => void
}

/** The login cannot go on: names the step and what the server said. */
export class LoginError extends Error {
  constructor (readonly step: LoginStep, message: string) {
    super(`${message} (at step ${step})`)
  }
}

/** RFC 4616: authzid (empty) NUL authcid NUL password, base64, in a SASL PLAIN <auth/>. */
export function saslPlain (user: string, password: string): string {
  return `<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`
}

/** RFC 6120 7.6: a bind request for `resource` ('' lets the server pick). */
export function bindRequest (resource: string, id = BIND_ID): string {
  const bind = resource === '' ? `<bind xmlns='${NS_BIND}'/>` : `<bind xmlns='${NS_BIND}'><resource>${escapeXML(resource)}</resource></bind>`
  return `<iq xmlns='jabber:client' type='set' id='${escapeXML(id)}'>${bind}</iq>`
}

export const INITIAL_PRESENCE = "<presence xmlns='jabber:client'/>"

/** A chat message (RFC 6121 5.2.2) to `to` with body `text`, escaped, with `id` when given. */
export function chat (to: string, text: string, id?: string): string {
  const idAttr = id === undefined ? '' : ` id='${escapeXML(id)}'`
  return `<message xmlns='jabber:client' type='chat' to='${escapeXML(to)}'${idAttr}><body>${escapeXML(text)}</body></message>`
}

/** The start tag of an element's text, its local name and the attribute values (unescaped) it is asked for. */
export function startTag (xml: string): { tag: string, name: string } {
  const m = /^\s*<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:'[^']*'|"[^"]*"))*\s*\/?>/.exec(xml)
  if (m === null) return { tag: '', name: '' }
  return { tag: m[0], name: m[1]!.slice(m[1]!.indexOf(':') + 1) }
}

/** The (unescaped) value of attribute `name` in start tag `tag`. */
export function attr (tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name.replace(/[.:]/g, '\\$&')}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(tag)
  return m === null ? undefined : unescapeXML(m[1] ?? m[2] ?? '')
}

export class XmppLogin {
  step: LoginStep = 'features'
  /** The bound full JID, once bound. */
  jid = ''
  readonly #credentials: Credentials
  readonly #transport: LoginTransport

  constructor (credentials: Credentials, transport: LoginTransport) {
    this.#credentials = credentials
    this.#transport = transport
  }

  /** Opens the stream; the server's features come next. */
  start (): void {
    this.#transport.open(false)
  }

  /**
   * Takes one top-level element from the server. Returns true once logged in
   * (the initial presence came back); throws a LoginError when the server
   * refuses a step or ends the stream. Elements a step does not wait for are
   * passed over.
   */
  receive (xml: string): boolean {
    const { tag, name } = startTag(xml)
    // RFC 6120 4.9; RFC 7395 3.6: the stream ended.
    if (name === 'error' && tag.startsWith('<stream:')) throw new LoginError(this.step, `stream error: ${firstChild(xml.slice(tag.length))}`)
    if (name === 'close') throw new LoginError(this.step, 'stream closed by the server')
    switch (this.step) {
      case 'features':
        if (name !== 'features') return false
        if (!/<(?:[\w.-]+:)?mechanism>\s*PLAIN\s*</.test(xml)) throw new LoginError(this.step, `SASL PLAIN not offered: ${xml.slice(0, 300)}`)
        this.step = 'sasl'
        this.#transport.send(saslPlain(this.#credentials.user, this.#credentials.password))
        return false
      case 'sasl':
        if (name === 'failure') throw new LoginError(this.step, `SASL failure for ${this.#credentials.user}: ${firstChild(xml.slice(tag.length))}`)
        if (name !== 'success') return false
        this.step = 'restart'
        this.#transport.open(true)
        return false
      case 'restart':
        if (name !== 'features') return false
        this.step = 'bind'
        this.#transport.send(bindRequest(this.#credentials.resource))
        return false
      case 'bind': {
        if (name !== 'iq' || attr(tag, 'id') !== BIND_ID) return false
        const jid = /<jid>([^<]*)<\/jid>/.exec(xml)?.[1]
        if (attr(tag, 'type') !== 'result' || jid === undefined) throw new LoginError(this.step, `bind failed: ${xml.slice(0, 300)}`)
        this.jid = unescapeXML(jid)
        this.step = 'presence'
        this.#transport.send(INITIAL_PRESENCE)
        return false
      }
      case 'presence':
        if (name !== 'presence' || attr(tag, 'from') !== this.jid) return false
        this.step = 'done'
        return true
      case 'done':
        return true
    }
  }
}

/** The name of the first child element in `xml` (a condition such as not-authorized), or what came instead. */
function firstChild (xml: string): string {
  return /^\s*<([^\s/>]+)/.exec(xml)?.[1] ?? (xml.slice(0, 100) || 'none given')
}
