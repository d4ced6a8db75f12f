// What a tsung 1.7 run wrote, read back: tsung.log (one block of statistics
// per interval, each headed by its Unix time) and, with the `fullstats`
// backend, tsung-fullstats.log (every sample, as Erlang terms). Pure parsing.

export interface Interval {
  /** End of the interval: Unix time, seconds. */
  at: number
  /** Samples (timings, ms): how many in the interval, their mean and maximum. */
  samples: Map<string, { count: number, mean: number, max: number }>
  /** Counters: how many in the interval, and in the whole run so far. */
  counters: Map<string, { count: number, total: number }>
}

/**
 * tsung.log's intervals. A sample line has seven numbers (count, mean,
 * stddev, max, min, and the run's mean and count before this interval); a
 * counter line two (this interval's count and the run's total).
 */
export function parseTsungLog (text: string): Interval[] {
  const intervals: Interval[] = []
  let current: Interval | null = null
  for (const line of text.split('\n')) {
    const dump = /^# stats: dump at (\d+)/.exec(line)
    if (dump !== null) {
      current = { at: Number(dump[1]), samples: new Map(), counters: new Map() }
      intervals.push(current)
      continue
    }
    const stat = /^stats: (\S+) (.*)$/.exec(line)
    if (stat === null || current === null) continue
    const name = stat[1] as string
    const numbers = (stat[2] as string).trim().split(/\s+/).map(Number)
    if (numbers.some((n) => !Number.isFinite(n))) continue
    if (numbers.length === 7) {
      current.samples.set(name, { count: numbers[0] as number, mean: numbers[1] as number, max: numbers[3] as number })
    } else if (numbers.length === 2) {
      current.counters.set(name, { count: numbers[0] as number, total: numbers[1] as number })
    }
  }
  return intervals
}

/** A counter's total over the whole run. */
export function counterTotal (intervals: readonly Interval[], name: string): number {
  let total = 0
  for (const i of intervals) total += i.counters.get(name)?.count ?? 0
  return total
}

/**
 * Seconds between two statistics dumps: tsung's default is 10; load.ts
 * starts tsung with 1 (tsungEnv), fine enough to find a burst.
 */
export const INTERVAL_SECONDS = 1

/** The environment that starts tsung with INTERVAL_SECONDS between dumps (an application setting of tsung_controller). */
export function tsungEnv (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, ERL_FLAGS: `${env.ERL_FLAGS ?? ''} -tsung_controller dumpstats_interval ${INTERVAL_SECONDS * 1000}`.trim() }
}

/** The intervals that hold samples of `name`: the first to the last (a burst, say). */
export function spanOf (intervals: readonly Interval[], name: string): Interval[] {
  const first = intervals.findIndex((i) => (i.samples.get(name)?.count ?? 0) > 0)
  const last = intervals.findLastIndex((i) => (i.samples.get(name)?.count ?? 0) > 0)
  return first === -1 ? [] : intervals.slice(first, last + 1)
}

/** Every counter named error_* with its total, largest first: tsung's errors by kind. */
export function errorsByKind (intervals: readonly Interval[]): Array<[string, number]> {
  const kinds = new Set<string>()
  for (const i of intervals) for (const name of i.counters.keys()) if (name.startsWith('error_')) kinds.add(name)
  return [...kinds].map((k): [string, number] => [k, counterTotal(intervals, k)]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
}

/** Every value of sample `name` in tsung-fullstats.log, in the order written. */
export function fullstatsSamples (text: string, name: string): number[] {
  const values: number[] = []
  const re = new RegExp(`\\{sample,${name},\\s*(\\[[^\\]]*\\]|[-\\d.e+]+)\\s*\\}`, 'g')
  for (const m of text.matchAll(re)) {
    const raw = m[1] as string
    const list = raw.startsWith('[') ? raw.slice(1, -1).split(',') : [raw]
    for (const v of list) {
      const n = Number(v.trim())
      if (v.trim() !== '' && Number.isFinite(n)) values.push(n)
    }
  }
  return values
}

/** Nearest-rank percentile `p` (0..100) of `values`; NaN when there are none. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}
