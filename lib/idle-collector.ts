// Gives memory back when the process goes quiet.
//
// V8 shrinks its heap only at a major collection, and starts one only while
// the heap grows under allocation. A process that has just logged thousands
// of sessions in (or out) and then idles keeps their garbage, and the pages
// it sits in, resident for as long as it idles (docs/bench-rss.md). Browsers
// collect in idle time because their embedder tells V8 when it is idle; Node
// has no such notification, so this is one: once a second it looks at how
// busy the event loop was, and when it has been nearly idle for a few seconds
// and the heap has grown well past what the last collection left, it runs a
// full collection. Under load the loop is never that idle, so a pause (about
// 80 ms with 9,000 sessions on this machine) only ever meets the few requests
// of a quiet process.
import { performance } from 'node:perf_hooks'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Logger } from 'pino'
import { systemClock, type Clock, type Timer } from './clock.js'

/** How often the collector looks at the loop and the heap (ms). */
export const IDLE_CHECK_MS = 1000
/** The event loop counts as idle below this share of busy time over a check… */
export const IDLE_UTILIZATION = 0.05
/** …and the process as quiet after this many idle checks in a row (a pause between bursts is not quiet). */
export const QUIET_CHECKS = 3
/** Collect only once the heap has grown by this much past the last baseline (bytes)… */
export const MIN_GROWTH_BYTES = 8 << 20
/** …and by this share of it, so a large process does not collect every second. */
export const MIN_GROWTH_RATIO = 0.1

/** The collector's decision, pure: collect when quiet (idle checks in a row) and the heap grew enough since `baseline`. */
export function shouldCollect (idleChecks: number, heapUsed: number, baseline: number): boolean {
  return idleChecks >= QUIET_CHECKS &&
    heapUsed - baseline > Math.max(MIN_GROWTH_BYTES, baseline * MIN_GROWTH_RATIO)
}

export interface IdleCollectorOptions {
  /** A full collection. */
  gc: () => void
  /** Share of time the event loop was busy since the previous call, 0 to 1. */
  utilization: () => number
  /** Bytes of V8 heap in use. */
  heapUsed: () => number
  clock?: Clock
  log?: Pick<Logger, 'debug'>
}

export interface IdleCollector {
  /** Collections run so far. */
  readonly collections: number
  stop (): void
}

export function startIdleCollector ({ gc, utilization, heapUsed, clock = systemClock, log }: IdleCollectorOptions): IdleCollector {
  // What the heap held after the last collection, or less if V8 collected since.
  let baseline = heapUsed()
  let collections = 0
  let idleChecks = 0
  let timer: Timer | null = null
  const check = (): void => {
    idleChecks = utilization() < IDLE_UTILIZATION ? idleChecks + 1 : 0
    const used = heapUsed()
    if (shouldCollect(idleChecks, used, baseline)) {
      const start = clock.now()
      gc()
      baseline = heapUsed()
      collections++
      log?.debug({ pauseMs: clock.now() - start, heapBeforeBytes: used, heapAfterBytes: baseline }, 'idle collection')
    } else if (used < baseline) {
      baseline = used
    }
    timer = clock.setTimeout(check, IDLE_CHECK_MS)
  }
  timer = clock.setTimeout(check, IDLE_CHECK_MS)
  return {
    get collections () { return collections },
    stop () {
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
    }
  }
}

/**
 * The process's idle collector on real time, or null when V8 does not let
 * this process collect on demand. `gc` comes from V8's --expose-gc, set at
 * run time so that the start command needs no flag; a new context gets the
 * function (the main context was made before the flag).
 */
export function startProcessIdleCollector (log?: Pick<Logger, 'debug'>): IdleCollector | null {
  let gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined
  }
  if (gc === undefined) return null
  let last = performance.eventLoopUtilization()
  return startIdleCollector({
    gc,
    utilization: () => {
      const now = performance.eventLoopUtilization()
      const { utilization } = performance.eventLoopUtilization(now, last)
      last = now
      return utilization
    },
    heapUsed: () => getHeapStatistics().used_heap_size,
    log
  })
}
