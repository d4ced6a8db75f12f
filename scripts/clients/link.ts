// An XMPP client over one connection ID of a Link, as the BOSH layer uses
// it: RFC 7395 framing, one element per frame each way. It logs in with the
// shared login machine (xmpp-login.ts) and, once logged in, holds only its
// connection ID, the link and why it was closed: the link memory benchmark
// measures sessions of this class as they are. The tests' client
// (test/helpers/link-xmpp-client.ts) adds an inbox by overriding `received`.
import type { LinkSession } from '../../lib/link/link.js'
import type { Upstream } from '../../lib/bosh/session.js'
import { openElement } from '../../lib/link/framing.js'
import { XmppLogin, LoginError } from './xmpp-login.js'

interface PendingLogin {
  machine: XmppLogin
  resolve: (jid: string) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class LinkClient implements LinkSession {
  readonly link: Upstream
  readonly id: number
  /** Why ejabberd or the link ended the connection ID, once it has. */
  closedReason: string | null = null
  #login: PendingLogin | null = null

  /** Opens a connection ID for a client at ip:port (what ejabberd sees); throws LINK_DOWN at once when the link is down. */
  constructor (link: Upstream, ip = '127.0.0.1', port = 40000) {
    this.link = link
    this.id = link.open(this, ip, port)
  }

  /** Sends one element; false when the link asks the caller to wait for drain. */
  send (xml: string): boolean {
    return this.link.send(this.id, xml)
  }

  /** RFC 7395 3.3: the stream open (also the restart after SASL, 3.3.3). */
  openStream (domain: string): void {
    this.send(openElement(domain, 'en'))
  }

  /** Logs in (open, SASL PLAIN, restart, bind, initial presence); resolves with the bound JID once the presence came back. */
  async login (user: string, password: string, domain: string, resource = 'link', timeoutMs = 10_000): Promise<string> {
    if (this.#login !== null) throw new Error(`connection ${this.id}: already logging in`)
    if (this.closedReason !== null) throw new Error(`connection ${this.id} is closed (${this.closedReason})`)
    return await new Promise<string>((resolve, reject) => {
      const machine = new XmppLogin({ user, password, resource }, {
        open: () => this.openStream(domain),
        send: (xml) => { this.send(xml) }
      })
      const timer = setTimeout(() => this.#fail(new LoginError(machine.step, `${user}: no login within ${timeoutMs} ms`)), timeoutMs)
      this.#login = { machine, resolve, reject, timer }
      machine.start()
    })
  }

  /** Ends the connection ID from Megaphone's side (`close <id> normal`). */
  end (): void {
    this.link.end(this.id)
  }

  onLinkFrame (content: Buffer): void {
    const login = this.#login
    if (login === null) {
      this.received(content)
      return
    }
    try {
      if (!login.machine.receive(content.toString('utf8'))) return
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    clearTimeout(login.timer)
    this.#login = null
    login.resolve(login.machine.jid)
  }

  onLinkClose (reason: string): void {
    this.closedReason = reason
    if (this.#login !== null) this.#fail(new Error(`connection ${this.id} closed (${reason}) during login`))
    this.closed(reason)
  }

  /** A frame after the login; the default keeps nothing. */
  protected received (_content: Buffer): void {}

  /** The connection ID has ended. */
  protected closed (_reason: string): void {}

  #fail (err: Error): void {
    const login = this.#login
    if (login === null) return
    this.#login = null
    clearTimeout(login.timer)
    if (this.closedReason === null) this.link.end(this.id, 'error')
    login.reject(new Error(`connection ${this.id}: ${err.message}`))
  }
}
