// CPU time of processes as the kernel accounts it (/proc/<pid>/stat, proc(5)),
// read from outside the processes measured: user + system seconds of a
// process and, for a program that runs as several processes (tsung: a shell
// script, then an Erlang VM and its port programs), of its whole tree.
import { readFileSync, readdirSync } from 'node:fs'

/** Clock ticks per second of utime and stime: USER_HZ, 100 on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100

export interface ProcStat {
  pid: number
  ppid: number
  /** user + system CPU seconds so far (its own, not its children's). */
  cpuSeconds: number
}

/**
 * One line of /proc/<pid>/stat. The command name (field 2) is in parentheses
 * and may itself hold spaces and parentheses: fields are counted from the last ')'.
 */
export function parseProcStat (line: string): ProcStat {
  const close = line.lastIndexOf(')')
  const pid = Number.parseInt(line, 10)
  if (close === -1 || !Number.isSafeInteger(pid)) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`)
  // After ") ": state(3) ppid(4) ... utime(14) stime(15).
  const rest = line.slice(close + 2).split(' ')
  const ppid = Number(rest[1])
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  if (![ppid, utime, stime].every(Number.isSafeInteger)) throw new Error(`malformed /proc/${pid}/stat`)
  return { pid, ppid, cpuSeconds: (utime + stime) / TICKS_PER_SECOND }
}

/** The process's stat, or null once it has exited. */
export function procStat (pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return null
    throw err
  }
}

/** Every process now running. */
function allProcesses (): ProcStat[] {
  const all: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = procStat(Number(name))
    if (stat !== null) all.push(stat)
  }
  return all
}

/** `root` and every process descended from it, as they are now. */
export function processTree (root: number, all: readonly ProcStat[] = allProcesses()): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>()
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p])
  const tree: ProcStat[] = []
  const todo = all.filter((p) => p.pid === root)
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    tree.push(p)
    todo.push(...(byParent.get(p.pid) ?? []))
  }
  return tree
}

/** The sample taken nearest to `t` (ms since the epoch); `samples` is never empty (a sampler takes one at its start). */
export function nearestSample<T extends { at: number }> (samples: readonly T[], t: number): T {
  return samples.reduce((best, s) => Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best)
}

/**
 * Samples the CPU seconds of named processes (and, for trees, their
 * descendants) once per `intervalMs`, with the time of each sample, so that
 * the CPU of any window within the run can be read afterwards.
 */
export class CpuSampler {
  readonly samples: Array<{ at: number, cpu: Record<string, number> }> = []
  readonly #timer: NodeJS.Timeout
  readonly #read: () => Record<string, number>

  /** `pids`: name to pid; `trees`: name to the pid of a tree's root (summed with every descendant). */
  constructor (pids: Record<string, number>, trees: Record<string, number>, intervalMs = 1000) {
    // A tree's processes that exit take their CPU out of /proc (their parent
    // collects it only when it reaps them): each member's last reading counts.
    const members = new Map<string, Map<number, number>>()
    this.#read = () => {
      const cpu: Record<string, number> = {}
      for (const [name, pid] of Object.entries(pids)) cpu[name] = procStat(pid)?.cpuSeconds ?? NaN
      const all = Object.keys(trees).length > 0 ? allProcesses() : []
      for (const [name, root] of Object.entries(trees)) {
        const seen = members.get(name) ?? new Map<number, number>()
        members.set(name, seen)
        for (const p of processTree(root, all)) seen.set(p.pid, p.cpuSeconds)
        let sum = 0
        for (const seconds of seen.values()) sum += seconds
        cpu[name] = sum
      }
      return cpu
    }
    this.sample()
    this.#timer = setInterval(() => this.sample(), intervalMs)
  }

  sample (): void {
    this.samples.push({ at: Date.now(), cpu: this.#read() })
  }

  stop (): void {
    clearInterval(this.#timer)
    this.sample()
  }

  /** CPU seconds of `name` between the samples nearest to `from` and `to` (ms since the epoch). */
  between (name: string, from: number, to: number): number {
    return (nearestSample(this.samples, to).cpu[name] ?? NaN) - (nearestSample(this.samples, from).cpu[name] ?? NaN)
  }
}

/**
 * Resident memory of a process as the machine pays it: VmRSS of
 * /proc/<pid>/status (proc(5)), in bytes. Read from outside: the process is
 * not asked to collect garbage or to do anything else.
 */
export function rssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (m === null) throw new Error(`/proc/${pid}/status has no VmRSS`)
  return Number(m[1]) * 1024
}
