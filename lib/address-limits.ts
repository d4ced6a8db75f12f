// Sessions per client address, BOSH and WebSocket together: a cap on those
// open at once, and a token bucket on their creation. Both are off or
// generous by default, since many users can share one address behind a NAT.
// Memory is bounded: open counts exist only for addresses with a session
// open (so at most one per session), and buckets live in a table in
// least-recently-used order that drops the ones that have refilled and,
// past a hard cap, the oldest (which only makes the limit more lenient for it).
import { isIPv6 } from 'node:net'
import { systemClock, type Clock } from './clock.js'

export interface AddressLimitsOptions {
  /** Sessions open at once from one address; 0: no cap. */
  maxSessionsPerAddress: number
  /** Sessions one address may create at once before the rate applies (bucket size). */
  sessionBurstPerAddress: number
  /** Sessions one address may create per second, sustained (refill rate); 0: no rate limit. */
  sessionsPerSecondPerAddress: number
  /** Most addresses whose bucket is kept; beyond it the least recently seen is forgotten. */
  maxAddresses: number
  clock?: Clock
}

/** Why a new session was refused. */
export type AddressRefusal = 'sessions-per-address' | 'session-rate'

export interface Refused {
  refusal: AddressRefusal
  /** When a retry may succeed (s); null when only the end of another session frees a place. */
  retryAfterSeconds: number | null
}

interface Bucket { tokens: number, at: number }

export class AddressLimits {
  readonly #open = new Map<string, number>()
  readonly #buckets = new Map<string, Bucket>()
  readonly #cap: number
  readonly #burst: number
  readonly #perMs: number
  readonly #maxAddresses: number
  readonly #clock: Clock
  /** A bucket untouched this long is full again: it can be forgotten. */
  readonly #refillMs: number
  #forgotten = 0

  constructor (options: AddressLimitsOptions) {
    this.#cap = options.maxSessionsPerAddress
    this.#burst = options.sessionBurstPerAddress
    this.#perMs = options.sessionsPerSecondPerAddress / 1000
    this.#maxAddresses = options.maxAddresses
    this.#clock = options.clock ?? systemClock
    this.#refillMs = this.#perMs > 0 ? Math.ceil(this.#burst / this.#perMs) : 0
  }

  /** Whether either limit is on; when not, open() always grants and nothing is kept. */
  get enabled (): boolean { return this.#cap > 0 || this.#perMs > 0 }

  /** Addresses with a session open, and addresses with a bucket (for /metrics). */
  get sizes (): { open: number, buckets: number } { return { open: this.#open.size, buckets: this.#buckets.size } }

  /** Buckets dropped by the hard cap before they refilled (a flood from many addresses). */
  get forgotten (): number { return this.#forgotten }

  /**
   * Takes a place for a new session from `ip`: null when granted (the caller
   * then calls close(ip) exactly once when the session ends), else why not.
   */
  open (ip: string): Refused | null {
    if (!this.enabled) return null
    const key = addressKey(ip)
    const open = this.#open.get(key) ?? 0
    if (this.#cap > 0 && open >= this.#cap) return { refusal: 'sessions-per-address', retryAfterSeconds: null }
    if (this.#perMs > 0) {
      const now = this.#clock.now()
      this.#expire(now)
      const bucket = this.#buckets.get(key)
      const tokens = bucket === undefined ? this.#burst : Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs)
      if (tokens < 1) {
        return { refusal: 'session-rate', retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000)) }
      }
      // Least recently used first: the entry moves to the end.
      if (bucket !== undefined) this.#buckets.delete(key)
      else if (this.#buckets.size >= this.#maxAddresses) this.#forgetOldest()
      this.#buckets.set(key, { tokens: tokens - 1, at: now })
    }
    if (this.#cap > 0) this.#open.set(key, open + 1)
    return null
  }

  /** A session from `ip` that open() granted has ended. */
  close (ip: string): void {
    if (this.#cap === 0) return
    const key = addressKey(ip)
    const open = this.#open.get(key)
    if (open === undefined) return
    if (open <= 1) this.#open.delete(key)
    else this.#open.set(key, open - 1)
  }

  /** Drops the buckets that have been untouched long enough to be full again (oldest first, so it stops at the first recent one). */
  #expire (now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at < this.#refillMs) return
      this.#buckets.delete(key)
    }
  }

  #forgetOldest (): void {
    const oldest = this.#buckets.keys().next()
    if (oldest.done === true) return
    this.#buckets.delete(oldest.value)
    this.#forgotten++
  }
}

/**
 * The key an address is limited by. An IPv4-mapped IPv6 address is its IPv4
 * address. An IPv6 address is its /64 network: one subscriber gets a whole
 * /64 (RFC 6177) and can pick any address in it, so limits per single
 * address would not hold anyone back.
 */
export function addressKey (ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped !== null) return mapped[1] as string
  if (!isIPv6(ip)) return ip
  const [head = '', tail] = ip.toLowerCase().split('::')
  const front = head === '' ? [] : head.split(':')
  const back = tail === undefined || tail === '' ? [] : tail.split(':')
  // An embedded IPv4 tail (::1.2.3.4) counts as two groups; only the first four groups matter here.
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
