// Backpressure from the link to client input (docs/link-protocol.md "Flow
// control"): while the link's socket write buffer is over its high-water
// mark, new client input waits for it to drain instead of piling up there.
import type { EventEmitter } from 'node:events'
import { systemClock, type Clock } from '../clock.js'

/** What the gate needs of the link: `Link` satisfies it. */
export interface Saturable extends Pick<EventEmitter, 'once' | 'off'> {
  readonly saturated: boolean
}

/** Longest a request waits for a saturated link to drain before it is let through anyway. */
export const DRAIN_WAIT_MS = 5_000

/**
 * A function that returns null while the link takes input, else a promise
 * for when it drains (or DRAIN_WAIT_MS has passed): one shared promise per
 * saturation episode, so that waiting requests add no listener each.
 */
export function drainGate (link: Saturable, clock: Clock = systemClock): () => Promise<void> | null {
  let drained: Promise<void> | null = null
  return () => {
    if (!link.saturated) return null
    drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer)
        link.off('drain', done)
        drained = null
        resolve()
      }
      const timer = clock.setTimeout(done, DRAIN_WAIT_MS)
      link.once('drain', done)
    })
    return drained
  }
}
