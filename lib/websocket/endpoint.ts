// Every WebSocket session of one process: creates them, counts them for
// /health and /metrics, pings them all from one timer (not a timer per
// session), and ends them all on shutdown.
import { systemClock, type Clock, type Timer } from '../clock.js'
import type { Log, Upstream } from '../bosh/session.js'
import type { AddressLimits, AddressRefusal, Refused } from '../address-limits.js'
import { WsSession, type WsContext, type WsEnd, type WsPeer } from './session.js'

export interface WsEndpointOptions {
  upstream: Upstream
  log: Log
  clock?: Clock
  domains: readonly string[]
  maxMessageBytes: number
  maxBufferedBytes: number
  /** Seconds between pings; a client that has not answered by the next one is dropped. 0: no pings. */
  pingIntervalSeconds: number
  /** RFC 7395 3.6.1: where clients go when this process shuts down; null for system-shutdown. */
  seeOtherUri: string | null
  whenWritable?: () => Promise<void> | null
  /** Sessions per client address (shared with BOSH); none: no limit. */
  addressLimits?: AddressLimits
  /** Told of each upgrade refused by addressLimits. */
  onAddressRefusal?: (refusal: AddressRefusal, ip: string) => void
}

/** What /health and /metrics read. */
export interface WsCounts {
  readonly size: number
  readonly created: number
  /** Sessions ended, by why. */
  readonly ended: ReadonlyMap<WsEnd, number>
}

export class WsEndpoint implements WsCounts {
  readonly #sessions = new Set<WsSession>()
  readonly #ctx: WsContext
  readonly #clock: Clock
  readonly #pingMs: number
  readonly #seeOtherUri: string | null
  readonly #ended = new Map<WsEnd, number>()
  #created = 0
  #pingTimer: Timer | null = null
  #closed = false
  readonly #addresses: AddressLimits | null
  readonly #onAddressRefusal: (refusal: AddressRefusal, ip: string) => void
  /** The address each session holds a place for in #addresses. */
  readonly #ipOf = new Map<WsSession, string>()

  constructor (options: WsEndpointOptions) {
    const { upstream, log, clock = systemClock, domains, maxMessageBytes, maxBufferedBytes, whenWritable } = options
    this.#clock = clock
    this.#pingMs = options.pingIntervalSeconds * 1000
    this.#seeOtherUri = options.seeOtherUri
    this.#addresses = options.addressLimits?.enabled === true ? options.addressLimits : null
    this.#onAddressRefusal = options.onAddressRefusal ?? (() => {})
    this.#ctx = {
      upstream,
      clock,
      log,
      domains: new Set(domains.map((d) => d.toLowerCase())),
      maxMessageBytes,
      maxBufferedBytes,
      whenWritable,
      onEnd: (session, end) => {
        this.#sessions.delete(session)
        const ip = this.#ipOf.get(session)
        if (ip !== undefined) {
          this.#ipOf.delete(session)
          this.#addresses?.close(ip)
        }
        this.#ended.set(end, (this.#ended.get(end) ?? 0) + 1)
      }
    }
  }

  get size (): number { return this.#sessions.size }
  get created (): number { return this.#created }
  get ended (): ReadonlyMap<WsEnd, number> { return this.#ended }
  /** False once shutdown() has run: new connections are refused. */
  get accepting (): boolean { return !this.#closed }

  /**
   * Before the upgrade: takes a place for a new session from `ip` (null), or
   * says why not. A place taken is the next accept()'s from that address, or
   * given back with release() if the upgrade does not happen.
   */
  admit (ip: string): Refused | null {
    const refused = this.#addresses?.open(ip) ?? null
    if (refused !== null) this.#onAddressRefusal(refused.refusal, ip)
    return refused
  }

  /** Gives back a place admit() took for an upgrade that did not happen. */
  release (ip: string): void { this.#addresses?.close(ip) }

  /** A new WebSocket from ip:port, admitted by admit(). */
  accept (peer: WsPeer, ip: string, port: number): WsSession {
    const session = new WsSession(peer, ip, port, this.#ctx)
    this.#sessions.add(session)
    if (this.#addresses !== null) this.#ipOf.set(session, ip)
    this.#created++
    if (this.#pingTimer === null && this.#pingMs > 0) this.#armPing()
    return session
  }

  /** Ends every session (see WsSession.shutdown) and stops pinging. */
  shutdown (): void {
    this.#closed = true
    if (this.#pingTimer !== null) this.#clock.clearTimeout(this.#pingTimer)
    this.#pingTimer = null
    for (const session of [...this.#sessions]) session.shutdown(this.#seeOtherUri)
  }

  #armPing (): void {
    this.#pingTimer = this.#clock.setTimeout(() => {
      this.#pingTimer = null
      for (const session of [...this.#sessions]) session.heartbeat()
      if (this.#sessions.size > 0 && !this.#closed) this.#armPing()
    }, this.#pingMs)
  }
}
