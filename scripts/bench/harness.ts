// What every benchmark entry needs: progress on stderr, bounded waits, option
// checks, child programs beside this file, their IPC replies, a text table.
import type { ChildProcess } from 'node:child_process'
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

export function positiveInt (name: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new Error(`--${name}: expected an integer from 1 to ${max}, got ${text}`)
  return n
}

/** `name` (without extension) beside this file, with this file's extension: .js when built, .ts under a TypeScript loader. */
export function childScript (name: string): string {
  const self = fileURLToPath(import.meta.url)
  return join(self, '..', `${name}${self.endsWith('.ts') ? '.ts' : '.js'}`)
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
