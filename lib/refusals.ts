// Connections and sessions refused or cut off to protect the process (slow,
// greedy and hostile clients): a counter per kind for /metrics, and log
// lines that cannot flood the log. The first refusal of a kind is logged at
// once; any more within the window are summed into one line at its end.
import { systemClock, type Clock, type Timer } from './clock.js'
import type { Log } from './bosh/session.js'

export const REFUSAL_KINDS = {
  /** A connection that sent no complete request headers within http.requestHeadersSeconds (silence or header trickling). */
  'request-headers-timeout': 'connections closed: no complete request headers in time',
  /** A request whose body did not arrive within http.requestBodySeconds (body trickling). */
  'request-body-timeout': 'requests cut off: body not received in time',
  /** An idle keep-alive connection closed because its address had more than limits.idleConnectionsPerAddress. */
  'idle-connections-per-address': 'idle keep-alive connections closed: too many from one address',
  /** A connection closed at once: limits.maxConnections reached (below the open-file limit). */
  'max-connections': 'connections refused: connection cap reached',
  /** accept() failed for want of descriptors (EMFILE, ENFILE) despite the cap. */
  'accept-emfile': 'accept failed: out of file descriptors',
  /** A session refused: limits.maxSessionsPerAddress open from its address. */
  'sessions-per-address': 'sessions refused: too many open from one address',
  /** A session refused: its address creates them faster than limits.sessionsPerSecondPerAddress. */
  'session-rate': 'sessions refused: created too fast from one address'
} as const
export type RefusalKind = keyof typeof REFUSAL_KINDS

/** Window over which refusals of one kind are summed into one log line. */
const LOG_WINDOW_MS = 10_000

export class Refusals {
  readonly #log: Log
  readonly #clock: Clock
  readonly #totals = new Map<RefusalKind, number>()
  /** Refusals of each kind not logged yet, while its window is open. */
  readonly #pending = new Map<RefusalKind, number>()
  readonly #timers = new Map<RefusalKind, Timer>()

  constructor (log: Log, clock: Clock = systemClock) {
    this.#log = log
    this.#clock = clock
  }

  /** Counts of each kind since start, every kind present (0 when none). */
  get totals (): ReadonlyArray<[RefusalKind, number]> {
    return (Object.keys(REFUSAL_KINDS) as RefusalKind[]).map((kind) => [kind, this.#totals.get(kind) ?? 0])
  }

  /** One refusal of `kind`; `fields` (never client input beyond an address) go on the log line when it is the first of its window. */
  count (kind: RefusalKind, fields: Record<string, string | number> = {}): void {
    this.#totals.set(kind, (this.#totals.get(kind) ?? 0) + 1)
    if (this.#timers.has(kind)) {
      this.#pending.set(kind, (this.#pending.get(kind) ?? 0) + 1)
      return
    }
    this.#log.warn({ refusal: kind, ...fields }, REFUSAL_KINDS[kind])
    this.#arm(kind)
  }

  /** Logs what is pending and stops the timers (shutdown). */
  flush (): void {
    for (const [kind, timer] of this.#timers) {
      this.#clock.clearTimeout(timer)
      this.#summary(kind)
    }
    this.#timers.clear()
  }

  #arm (kind: RefusalKind): void {
    this.#timers.set(kind, this.#clock.setTimeout(() => {
      this.#timers.delete(kind)
      // Another window only if this one had more: a steady flood is one line per window.
      if (this.#summary(kind)) this.#arm(kind)
    }, LOG_WINDOW_MS))
  }

  #summary (kind: RefusalKind): boolean {
    const count = this.#pending.get(kind) ?? 0
    this.#pending.delete(kind)
    if (count === 0) return false
    this.#log.warn({ refusal: kind, count, windowSeconds: LOG_WINDOW_MS / 1000 }, `${REFUSAL_KINDS[kind]} (more in the last window)`)
    return true
  }
}
