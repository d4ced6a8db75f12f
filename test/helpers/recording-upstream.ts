// Stands in for the link in the session unit tests (BOSH and WebSocket):
// records what sessions open, send and end, and lets the test play ejabberd.
import type { Upstream } from '../../lib/bosh/session.js'
import type { LinkSession, SessionEndReason } from '../../lib/link/link.js'
import { ErrorCode, MegaphoneError } from '../../lib/errors.js'

export class RecordingUpstream implements Upstream {
  sessions = new Map<number, LinkSession>()
  sent: Array<[number, string]> = []
  /** Connection IDs ended from the session's side, and why, in order. */
  ended: number[] = []
  endReasons: string[] = []
  /** open() fails with LINK_DOWN. */
  down = false
  /** send() reports the link saturated. */
  saturated = false
  #next = 1

  open (session: LinkSession): number {
    if (this.down) throw new MegaphoneError(ErrorCode.LINK_DOWN, 'down')
    const id = this.#next++
    this.sessions.set(id, session)
    return id
  }

  send (id: number, content: string): boolean {
    if (!this.sessions.has(id)) throw new MegaphoneError(ErrorCode.LINK_SESSION_CLOSED, 'closed')
    this.sent.push([id, content])
    return !this.saturated
  }

  end (id: number, reason = 'normal'): void { this.ended.push(id); this.endReasons.push(reason); this.sessions.delete(id) }
  /** ejabberd sends one element to connection `id`. */
  deliver (id: number, xml: string): void { this.sessions.get(id)?.onLinkFrame(Buffer.from(xml)) }
  contents (id: number): string[] { return this.sent.filter(([i]) => i === id).map(([, c]) => c) }
  /** ejabberd ends connection `id`, or the link goes down under it. */
  closeFromEjabberd (id: number, reason: SessionEndReason): void {
    const s = this.sessions.get(id)
    this.sessions.delete(id)
    s?.onLinkClose(reason)
  }
}
