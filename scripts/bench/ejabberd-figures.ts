// What the benchmark reports print from ejabberd readings (ejabberd-memory.ts):
// the growth of a figure from a baseline to a loaded reading, per session in
// KiB, and one reading as a line of details.
import type { Reading } from './ejabberd-memory.js'

const KiB = 1024
const MiB = 1024 * 1024

/** `bytes / n` in KiB, one decimal. */
export const kib = (bytes: number, n: number): string => (bytes / n / KiB).toFixed(1)
export const mib = (bytes: number): string => (bytes / MiB).toFixed(1)

export type Figure = 'total' | 'asIdle' | 'processes' | 'ets' | 'binary' | 'otherSystem' | 'driverAlloc'

/** A phase's two readings: with no session open, then with its N sessions. */
export interface Readings { base: Reading, loaded: Reading }

/** Bytes the loaded reading holds over its baseline. "As idle" compares erlang:memory(total) before the forced GC with the baseline after it. */
export function delta ({ base, loaded }: Readings, figure: Figure): number {
  if (figure === 'asIdle') return loaded.totalBeforeGc - base.allocated
  return loaded[figure] - base[figure]
}

type Group = 'c2s' | 'linkSessions' | 'boshSessions' | 'httpConnections'
/** Each group under the name of its processes' module. */
const GROUP_NAMES: Record<Group, string> = {
  c2s: 'c2s',
  linkSessions: 'megaphone_session',
  boshSessions: 'ejabberd_bosh',
  httpConnections: 'ejabberd_http'
}

/** One reading on one line: totals, process and port counts, and each of `groups` per process, before -> after the GC. */
function readingDetail (label: string, labelWidth: number, m: Reading, groups: readonly Group[]): string {
  const each = (g: Reading[Group]): string =>
    g.count === 0 ? '-' : `${g.count} x ${kib(g.bytesBeforeGc, g.count)} -> ${kib(g.bytes, g.count)} KiB (${g.hibernated} hibernated)`
  return `  ${label.padEnd(labelWidth)} ${mib(m.totalBeforeGc)} -> ${mib(m.allocated)} MiB allocated, ${mib(m.total)} used; ` +
    `${m.processCount} processes, ${m.portCount} ports; median of ${m.readings}${m.settled ? '' : ' (ended sessions\' processes still running)'}; ` +
    `${m.gcRounds} GC rounds; ${groups.map((g) => `${GROUP_NAMES[g]} ${each(m[g])}`).join('; ')}`
}

/** The readings of every N's phases, a line each: per N, for each of `phases` ([label, its readings]), base then loaded. */
export function readingDetails<R extends { n: number }> (
  results: readonly R[], phases: ReadonlyArray<[string, (r: R) => Readings]>, groups: readonly Group[]
): string[] {
  const labels = results.flatMap((r) => phases.flatMap(([path]) => [`N=${r.n} ${path} base`, `N=${r.n} ${path} loaded`]))
  const width = Math.max(...labels.map((l) => l.length))
  return results.flatMap((r) => phases.flatMap(([path, of]) => [
    readingDetail(`N=${r.n} ${path} base`, width, of(r).base, groups),
    readingDetail(`N=${r.n} ${path} loaded`, width, of(r).loaded, groups)
  ]))
}
