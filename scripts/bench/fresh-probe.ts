// A request on a fresh connection while the server is under load: how long a
// new client waits behind the work on existing connections. Every intervalMs
// the probe opens a new TCP connection, posts the cheapest BOSH request (an
// unknown sid, answered at once) and times it from before connect to the end
// of the response. One probe at a time at most, so the probe adds no load of
// its own beyond one connection.
import http from 'node:http'
import { EMPTY_REQUEST } from './wrk.js'
import type { Target } from './tsung-config.js'

export interface FreshSample {
  /** When the probe started, ms since the epoch. */
  at: number
  /** Connect to the last byte of the response, ms; Infinity when it failed or took over PROBE_TIMEOUT_MS. */
  ms: number
}

/** A probe that takes longer is counted as failed (Infinity), and the next one starts. */
export const PROBE_TIMEOUT_MS = 10_000

export class FreshProbe {
  readonly samples: FreshSample[] = []
  readonly #target: Target
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | null = null
  #busy = false

  constructor (target: Target, intervalMs: number) {
    this.#target = target
    this.#intervalMs = intervalMs
  }

  start (): void {
    this.#timer = setInterval(() => { if (!this.#busy) this.#probe() }, this.#intervalMs)
  }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** The times of the probes started between from and to (ms since the epoch). */
  between (from: number, to: number): number[] {
    return this.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.ms)
  }

  #probe (): void {
    this.#busy = true
    const at = Date.now()
    const started = process.hrtime.bigint()
    let settled = false
    const done = (ok: boolean): void => {
      if (settled) return
      settled = true
      this.#busy = false
      this.samples.push({ at, ms: ok ? Number(process.hrtime.bigint() - started) / 1e6 : Infinity })
    }
    const req = http.request({
      host: this.#target.host,
      port: this.#target.port,
      path: this.#target.path,
      method: 'POST',
      agent: false, // a new connection every time
      headers: { 'content-type': 'text/xml; charset=utf-8', connection: 'close' },
      timeout: PROBE_TIMEOUT_MS
    }, (res) => {
      res.resume()
      res.on('end', () => done(res.statusCode === 200))
      res.on('error', () => done(false))
    })
    req.on('timeout', () => { req.destroy(); done(false) })
    req.on('error', () => done(false))
    req.end(EMPTY_REQUEST)
  }
}
