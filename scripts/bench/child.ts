// What every child program of a benchmark needs (bosh-clients.ts,
// c2s-clients.ts, megaphone-process.ts): its IPC channel to the parent, an
// exit as soon as the parent is gone, and a failure sent to the parent as an
// `error` message rather than only printed. The parent's side is harness.ts.
import { pool } from './pool.js'

export interface ErrorMessage { type: 'error', message: string }

/** What a child that logs users in is told: users `${prefix}1` … `${prefix}${count}`, all with `password`. */
export interface LoginOptions {
  domain: string
  prefix: string
  count: number
  password: string
  /** Logins (and, for children that end sessions one by one, terminations) in flight at once. */
  concurrency: number
  loginTimeoutMs: number
}

/** Sends `msg` to the parent; resolves once it is handed to the channel. */
export async function toParent<M extends { type: string }> (msg: M): Promise<void> {
  await new Promise<void>((resolve) => process.send?.(msg, undefined, {}, () => resolve()))
}

/** Runs the child program `name` (forked by `parent`): `main`, then whatever its IPC handlers do. */
export function runChild (name: string, parent: string, main: () => Promise<void>): void {
  const fail = async (err: unknown): Promise<void> => {
    const message = err instanceof Error ? err.message : String(err)
    process.stderr.write(`${name}: ${message}\n`)
    if (process.connected) await toParent<ErrorMessage>({ type: 'error', message })
    process.exit(1)
  }
  if (process.send === undefined) {
    void fail(new Error(`runs as a child of ${parent} (IPC channel missing)`))
    return
  }
  // The parent is gone: nothing to close gracefully for, drop everything at once.
  process.on('disconnect', () => process.exit(1))
  main().catch(fail)
}

/** The child's last task: sends the message it resolves to (or the error) to the parent, then exits. */
export function finish<M extends { type: string }> (what: string, task: () => Promise<M>): void {
  task().then(async (msg) => {
    await toParent(msg)
    process.exit(0)
  }, async (err: unknown) => {
    await toParent<ErrorMessage>({ type: 'error', message: `${what}: ${String(err)}` })
    process.exit(1)
  })
}

/** Logs every user in with `login`, `concurrency` at a time, then sends `{type: 'ready', loginMs}`; rejects on the first failure. */
export async function loginAll (opts: LoginOptions, login: (user: string) => Promise<void>): Promise<void> {
  const startedAt = Date.now()
  await pool(opts.count, opts.concurrency, async (i) => { await login(`${opts.prefix}${i + 1}`) })
  await toParent({ type: 'ready', loginMs: Date.now() - startedAt })
}
