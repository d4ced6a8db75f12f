// A benchmark session over one connection ID of the link: the login of
// test/helpers/link-xmpp-client.ts (RFC 7395 framing: open, SASL PLAIN,
// restart, bind, initial presence) as a small state machine on the text of
// each frame, holding nothing once logged in, so that the Megaphone-side
// figures are the link's own cost per session.
import type { Link, LinkSession } from '../../lib/link/link.js'
import { NS_FRAMING } from '../../lib/link/constants.js'

type Step = 'features' | 'sasl' | 'restart' | 'bind' | 'presence' | 'done' | 'closed'

export interface LoginOptions {
  domain: string
  user: string
  password: string
  timeoutMs: number
}

export class BenchLinkSession implements LinkSession {
  readonly id: number
  #link: Link
  #step: Step = 'features'
  #login: { opts: LoginOptions, resolve: () => void, reject: (err: Error) => void, timer: NodeJS.Timeout } | null
  /** Why ejabberd or the link ended the session, once it has. */
  closedReason: string | null = null

  private constructor (link: Link, opts: LoginOptions, resolve: () => void, reject: (err: Error) => void) {
    this.#link = link
    const timer = setTimeout(() => this.#fail(`no login within ${opts.timeoutMs} ms`), opts.timeoutMs)
    this.#login = { opts, resolve, reject, timer }
    this.id = link.open(this, '127.0.0.1', 40000)
    this.#openStream()
  }

  /** Opens a session and logs `opts.user` in; resolves once ejabberd has echoed the initial presence. */
  static async login (link: Link, opts: LoginOptions): Promise<BenchLinkSession> {
    let session: BenchLinkSession | undefined
    await new Promise<void>((resolve, reject) => { session = new BenchLinkSession(link, opts, resolve, reject) })
    return session as BenchLinkSession
  }

  onLinkFrame (content: Buffer): void {
    const login = this.#login
    if (login === null) return
    const text = content.toString('utf8')
    if (text.startsWith('<stream:error') || text.startsWith('<close')) return this.#fail('stream ended')
    const { user, password } = login.opts
    switch (this.#step) {
      case 'features':
        if (!text.startsWith('<stream:features')) return
        if (!text.includes('<mechanism>PLAIN</mechanism>')) return this.#fail('PLAIN not offered')
        this.#step = 'sasl'
        this.#send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
          Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`)
        return
      case 'sasl':
        if (text.startsWith('<failure')) return this.#fail('SASL failure')
        if (!text.startsWith('<success')) return
        this.#step = 'restart'
        // RFC 6120 6.4.6: restart the stream after SASL success.
        this.#openStream()
        return
      case 'restart':
        if (!text.startsWith('<stream:features')) return
        this.#step = 'bind'
        this.#send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
        return
      case 'bind': {
        if (!text.startsWith('<iq') || !/\bid='bind1'/.test(text)) return
        if (!/^<iq\b[^>]*\btype='result'/.test(text)) return this.#fail('bind failed')
        this.#step = 'presence'
        // RFC 6121 4.2: initial presence; ejabberd echoes it to the resource.
        this.#send("<presence xmlns='jabber:client'/>")
        return
      }
      case 'presence':
        if (!text.startsWith('<presence')) return
        this.#step = 'done'
        clearTimeout(login.timer)
        this.#login = null
        login.resolve()
    }
  }

  onLinkClose (reason: string): void {
    this.closedReason = reason
    if (this.#login !== null) this.#fail(`closed by the link (${reason})`)
    this.#step = 'closed'
  }

  /** Ends the session from Megaphone's side (`close <id> normal`). */
  end (): void {
    this.#step = 'closed'
    this.#link.end(this.id)
  }

  #openStream (): void {
    const domain = this.#login?.opts.domain ?? ''
    this.#send(`<open xmlns='${NS_FRAMING}' to='${domain}' version='1.0' xml:lang='en'/>`)
  }

  #send (xml: string): void {
    this.#link.send(this.id, xml)
  }

  #fail (why: string): void {
    const login = this.#login
    if (login === null) return
    this.#login = null
    clearTimeout(login.timer)
    if (this.closedReason === null) this.#link.end(this.id, 'error')
    login.reject(new Error(`${login.opts.user} (connection ${this.id}): ${why} at step ${this.#step}`))
  }
}
