// A minimal XMPP client that speaks over one connection ID of a Link, the way
// the BOSH layer will: RFC 7395 framing in, one element per frame out.
// Tests use it to drive the real ejabberd through the link without HTTP.
import type { Link, LinkSession } from '../../lib/link/link.js'
import { NS_FRAMING } from '../../lib/link/constants.js'
import { parseElement, escapeXML, type Element } from '../../lib/xml.js'

interface Waiter {
  match: (el: Element) => boolean
  resolve: (el: Element) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class LinkXmppClient implements LinkSession {
  readonly link: Link
  readonly id: number
  /** Elements received and not yet claimed by a wait. */
  readonly inbox: Element[] = []
  closedReason: string | null = null
  #waiters: Waiter[] = []
  #closeWaiters: Array<(reason: string) => void> = []

  constructor (link: Link, ip = '127.0.0.1', port = 40000) {
    this.link = link
    this.id = link.open(this, ip, port)
  }

  onLinkFrame (content: Buffer): void {
    const el = parseElement(content.toString('utf8'))
    const i = this.#waiters.findIndex((w) => w.match(el))
    if (i === -1) {
      this.inbox.push(el)
      return
    }
    const [w] = this.#waiters.splice(i, 1)
    clearTimeout(w!.timer)
    w!.resolve(el)
  }

  onLinkClose (reason: string): void {
    this.closedReason = reason
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(new Error(`connection ${this.id} closed (${reason}) while waiting`))
    }
    for (const resolve of this.#closeWaiters.splice(0)) resolve(reason)
  }

  send (xml: string): boolean {
    return this.link.send(this.id, xml)
  }

  /** Resolves with the first element (already received or to come) that matches. */
  async wait (match: (el: Element) => boolean, timeoutMs = 10_000, what = 'element'): Promise<Element> {
    const i = this.inbox.findIndex(match)
    if (i !== -1) return this.inbox.splice(i, 1)[0]!
    if (this.closedReason !== null) throw new Error(`connection ${this.id} is closed (${this.closedReason})`)
    return await new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.timer !== timer)
        const seen = this.inbox.map((el) => el.toString().slice(0, 200)).join('\n')
        reject(new Error(`connection ${this.id}: no ${what} within ${timeoutMs} ms; unclaimed:\n${seen}`))
      }, timeoutMs)
      this.#waiters.push({ match, resolve, reject, timer })
    })
  }

  async waitClosed (timeoutMs = 10_000): Promise<string> {
    if (this.closedReason !== null) return this.closedReason
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection ${this.id} not closed within ${timeoutMs} ms`)), timeoutMs)
      this.#closeWaiters.push((reason) => { clearTimeout(timer); resolve(reason) })
    })
  }

  openStream (domain: string): void {
    this.send(`<open xmlns='${NS_FRAMING}' to='${escapeXML(domain)}' version='1.0' xml:lang='en'/>`)
  }

  /** RFC 6120 with RFC 7395 framing: open, SASL PLAIN, restart, bind. Returns the bound JID. */
  async login (user: string, password: string, domain: string, resource = 'link'): Promise<string> {
    this.openStream(domain)
    await this.wait((el) => el.is('open', NS_FRAMING), 10_000, 'stream open')
    const features = await this.wait((el) => el.name === 'stream:features', 10_000, 'stream features')
    const mechanisms = features.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl')
    if (mechanisms?.getChildren('mechanism').some((m) => m.text() === 'PLAIN') !== true) {
      throw new Error(`PLAIN not offered: ${features.toString()}`)
    }
    const token = Buffer.from(`\0${user}\0${password}`).toString('base64')
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`)
    const outcome = await this.wait((el) => el.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-sasl', 10_000, 'SASL outcome')
    if (outcome.name !== 'success') throw new Error(`SASL failed for ${user}: ${outcome.toString()}`)
    // RFC 6120 6.4.6: restart the stream after SASL success.
    this.openStream(domain)
    await this.wait((el) => el.is('open', NS_FRAMING), 10_000, 'restarted stream open')
    await this.wait((el) => el.name === 'stream:features', 10_000, 'post-auth features')
    this.send(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeXML(resource)}</resource></bind></iq>`)
    const bound = await this.wait((el) => el.name === 'iq' && el.attrs.id === 'bind1', 10_000, 'bind result')
    const jid = bound.getChild('bind')?.getChildText('jid')
    if (bound.attrs.type !== 'result' || jid == null) throw new Error(`bind failed: ${bound.toString()}`)
    // RFC 6121 4.2: initial presence makes the resource available, so that
    // stanzas addressed to the bare JID reach it. The server echoes it back.
    this.send("<presence xmlns='jabber:client'/>")
    await this.wait((el) => el.name === 'presence' && el.attrs.from === jid, 10_000, 'own presence echo')
    return jid
  }

  /** Ends the stream the polite way, then releases the connection ID. */
  async logout (timeoutMs = 10_000): Promise<void> {
    this.send(`<close xmlns='${NS_FRAMING}'/>`)
    await this.wait((el) => el.is('close', NS_FRAMING), timeoutMs, 'stream close')
    this.link.end(this.id)
  }
}

export const message = (to: string, body: string, id?: string): string =>
  `<message xmlns='jabber:client' to='${escapeXML(to)}' type='chat'${id === undefined ? '' : ` id='${escapeXML(id)}'`}><body>${escapeXML(body)}</body></message>`
