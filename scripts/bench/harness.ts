// What every benchmark entry needs: progress on stderr, bounded waits, child
// programs beside this file and their IPC replies (their side is child.ts),
// the command line, text and markdown tables. Options are options.ts.
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export function log (message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

export async function withTimeout<T> (what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** `name` (without extension) beside this file, with this file's extension: .js when built, .ts under a TypeScript loader. */
export function childScript (name: string): string {
  const self = fileURLToPath(import.meta.url)
  return join(self, '..', `${name}${self.endsWith('.ts') ? '.ts' : '.js'}`)
}

export interface Child { child: ChildProcess, exited: Promise<void> }

/**
 * Forks the child program `name` (see childScript) with an IPC channel. Its
 * stdout and stderr go to this process's stderr: stdout is the report's.
 */
export function forkChild (name: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv, execArgv?: string[] } = {}): Child {
  const child = fork(childScript(name), args, { ...opts, stdio: ['ignore', 2, 2, 'ipc'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, exited }
}

/** The child's next IPC message; rejects if it exits first or nothing comes within `timeoutMs`. */
export async function nextMessage<T> (child: ChildProcess, timeoutMs: number, what: string): Promise<T> {
  let off = (): void => {}
  try {
    return await withTimeout(what, timeoutMs, new Promise<T>((resolve, reject) => {
      const onMessage = (msg: T): void => { off(); resolve(msg) }
      const onExit = (code: number | null, signal: string | null): void => {
        off()
        reject(new Error(`${what}: the child process exited (code ${code}, signal ${signal})`))
      }
      off = () => { child.off('message', onMessage); child.off('exit', onExit) }
      child.on('message', onMessage)
      child.on('exit', onExit)
    }))
  } finally {
    off()
  }
}

/** Columns padded to their widest cell: the first `leftColumns` left-aligned, the rest right-aligned. */
export function textTable (rows: string[][], leftColumns = 2): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd())
}

/** The command line that ran this process, for the report. */
export function commandLine (): string {
  const script = process.argv[1] ?? ''
  const cwd = process.cwd()
  const shown = script.startsWith(`${cwd}/`) ? script.slice(cwd.length + 1) : script
  return ['node', ...process.execArgv, shown, ...process.argv.slice(2)].join(' ')
}

/** A GitHub-flavoured markdown table: the first `leftColumns` left-aligned, the rest right-aligned. */
export function markdownTable (rows: string[][], leftColumns = 2): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((r) => r[i]!.length)))
  const line = (r: string[]): string =>
    `| ${r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i < leftColumns ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)]
}
