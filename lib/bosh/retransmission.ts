// The responses a session keeps so that a client can ask for one again
// (XEP-0124 14.3), trimmed by the client's acknowledgements and used to
// report a lost response (9). Pure functions over the session's list.
import { MAX_REPORT_TIME_MS } from './constants.js'
import type { BodyAttrs } from './response.js'
import { NONE, appended } from './arrays.js'

export interface Sent {
  rid: number
  body: string
  /** When it was sent (clock ms), for `time` in a report. */
  at: number
}

/**
 * How many responses to keep: a retransmission can only ask for a rid within
 * the window of `requests`; with acks the client's ack trims sooner, and a
 * little more is kept to report a loss.
 */
export function keepCount (requests: number, acks: boolean): number {
  return acks ? 2 * requests + 1 : requests
}

/** `sent` with `entry` added, the oldest dropped beyond `keep`. */
export function remember (sent: readonly Sent[], entry: Sent, keep: number): Sent[] {
  return appended(sent, entry).slice(-keep)
}

/**
 * Without acks: the responses the client can no longer ask for again. XEP-0124
 * 14.1 lets a client send rid `highestRid` only once it has had a response for
 * every rid up to `requests` below it, so those stay with the client, and
 * keeping them would cost an idle session a body string each.
 */
export function pastWindow (sent: Sent[], highestRid: number, requests: number): Sent[] {
  const first = sent[0]
  if (first === undefined || first.rid > highestRid - requests) return sent
  return acknowledge(sent, highestRid - requests)
}

/** XEP-0124 9.2: the client has every response up to `ack`. */
export function acknowledge (sent: readonly Sent[], ack: number): Sent[] {
  const keep = sent.findIndex((s) => s.rid > ack)
  return keep === -1 ? NONE : sent.slice(keep)
}

/** XEP-0124 14.3: the response to `rid`, if it is still kept. */
export function findSent (sent: readonly Sent[], rid: number): Sent | undefined {
  return sent.find((s) => s.rid === rid)
}

/**
 * XEP-0124 9.2: a response the client should have by now but has not
 * acknowledged. The client cannot have sent rid `highestRid` before it had
 * every response up to `requests` below it; one it has not acknowledged was lost.
 */
export function report (sent: readonly Sent[], highestRid: number, requests: number, now: number): BodyAttrs | null {
  const oldest = sent[0]
  if (oldest === undefined || oldest.rid > highestRid - requests) return null
  return [['report', oldest.rid], ['time', Math.min(MAX_REPORT_TIME_MS, now - oldest.at)]]
}
