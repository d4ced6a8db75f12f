// Where a request's rid falls (XEP-0124 14), and the requests that arrived
// ahead of a gap in the rids, waiting for it to fill (14.2).
import type { RequestBody } from './body.js'

/** Answers one HTTP request with a complete body. Called at most once per request. */
export type Respond = (body: string) => void

/**
 * `old`: at or below the highest rid processed, a retransmission (14.3);
 * `next`: the one to process now; `ahead`: within the window (and the
 * configured slack past it) but after a gap (14.2); `beyond`: past both, an
 * error (14.2).
 */
export type RidPlace = 'old' | 'next' | 'ahead' | 'beyond'

/**
 * `highest` is the highest rid processed; `requests` the session's window;
 * `slack` how many rids past it Megaphone queues all the same.
 * XEP-0124 11: one more is allowed when the request pauses or terminates the session.
 */
export function placeRid (rid: number, highest: number, requests: number, slack: number, pausesOrTerminates: boolean): RidPlace {
  if (rid <= highest) return 'old'
  if (rid > highest + requests + slack + (pausesOrTerminates ? 1 : 0)) return 'beyond'
  return rid === highest + 1 ? 'next' : 'ahead'
}

interface Early { body: RequestBody, respond: Respond }

/** Requests that came early, by rid; allocated only while there are some. */
export class AheadQueue {
  readonly #byRid = new Map<number, Early>()

  get size (): number { return this.#byRid.size }

  /** Keeps a request until its turn; a second copy of the same rid replaces the first, which is answered with `empty`. */
  put (body: RequestBody, respond: Respond, empty: string): void {
    this.#byRid.get(body.rid)?.respond(empty)
    this.#byRid.set(body.rid, { body, respond })
  }

  /** The request with this rid, taken out of the queue. */
  take (rid: number): Early | undefined {
    const early = this.#byRid.get(rid)
    if (early !== undefined) this.#byRid.delete(rid)
    return early
  }

  /** Whether a request kept pauses or terminates the session (XEP-0124 11 allows it one more request). */
  get ends (): boolean {
    for (const { body } of this.#byRid.values()) if (body.attrs.type === 'terminate' || body.attrs.pause !== undefined) return true
    return false
  }

  /** Whether a request with this rid is kept (a second copy replaces it). */
  has (rid: number): boolean { return this.#byRid.has(rid) }

  /** The lowest rid kept, if any. */
  lowest (): number | undefined {
    let low: number | undefined
    for (const rid of this.#byRid.keys()) if (low === undefined || rid < low) low = rid
    return low
  }

  /** Forgets a request whose client went away; true when it was here. */
  drop (respond: Respond): boolean {
    for (const [rid, early] of this.#byRid) {
      if (early.respond !== respond) continue
      this.#byRid.delete(rid)
      return true
    }
    return false
  }

  /** Answers every request kept with `body` and forgets them. */
  answerAll (body: string): void {
    for (const early of this.#byRid.values()) early.respond(body)
    this.#byRid.clear()
  }
}
