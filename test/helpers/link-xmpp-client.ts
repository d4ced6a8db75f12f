// The tests' XMPP client over one connection ID of a Link: the shared
// client of scripts/clients/link.ts (RFC 7395 framing, the shared login),
// plus an inbox of parsed elements to wait on. Tests use it to drive the real
// ejabberd through the link without HTTP.
import { NS_FRAMING } from '../../lib/link/constants.js'
import { CLOSE_ELEMENT } from '../../lib/link/framing.js'
import { parseElement, type Element } from '../../lib/xml.js'
import { LinkClient } from '../../scripts/clients/link.js'

export { chat } from '../../scripts/clients/xmpp-login.js'

interface Waiter {
  match: (el: Element) => boolean
  resolve: (el: Element) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class LinkXmppClient extends LinkClient {
  /** Elements received after the login and not yet claimed by a wait. */
  readonly inbox: Element[] = []
  #waiters: Waiter[] = []
  #closeWaiters: Array<(reason: string) => void> = []

  protected override received (content: Buffer): void {
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

  protected override closed (reason: string): void {
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(new Error(`connection ${this.id} closed (${reason}) while waiting`))
    }
    for (const resolve of this.#closeWaiters.splice(0)) resolve(reason)
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

  /** Ends the stream the polite way, then releases the connection ID. */
  async logout (timeoutMs = 10_000): Promise<void> {
    this.send(CLOSE_ELEMENT)
    await this.wait((el) => el.is('close', NS_FRAMING), timeoutMs, 'stream close')
    this.end()
  }
}
