// The test run's private ejabberd, started once by test/setup/before.ts.
//
// Every call goes through scripts/ejabberd.sh (erl_call underneath), in its own
// child process with a timeout, so test files running in parallel can use these
// helpers at the same time. Namespace users with a prefix per test.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const EJABBERD_SCRIPT = join(PROJECT_ROOT, 'scripts/ejabberd.sh')

/** Set to a description file's path to run a test file outside `npx tap`. */
export const DESCRIPTION_ENV = 'MEGAPHONE_TEST_EJABBERD'

const CALL_TIMEOUT_MS = 30_000
const BULK_TIMEOUT_MS = 300_000

/** What the global setup writes to `.state/test-<runner pid>/run.json`. */
export interface TestEjabberdDescription {
  /** Erlang node name, e.g. `megaphone-1a2b3c4d@localhost`. */
  readonly node: string
  readonly cookie: string
  /** XMPP domain users live in, e.g. `localhost`. */
  readonly domain: string
  /** Every listener binds this address. */
  readonly host: '127.0.0.1'
  readonly c2sPort: number
  /** ejabberd's own HTTP listener: BOSH at `/http-bind`, websocket at `/ws`. */
  readonly httpPort: number
  /** ejabberd's own BOSH endpoint, the baseline Megaphone is compared to. */
  readonly boshUrl: string
  /** Whether megaphone_listener is configured (always, unless MEGAPHONE_EJABBERD_NO_LINK=1). */
  readonly link: boolean
  /** megaphone_listener's port and shared secret. */
  readonly linkPort: number
  readonly secret: string
  readonly stateDir: string
  readonly logPath: string
  /** The tap runner that owns this server; it is stopped when that process exits. */
  readonly runnerPid: number
}

/** The description plus what tests do with it. */
export interface TestEjabberd extends TestEjabberdDescription {
  /** ejabberd's log so far (ejabberd.log: info and above). */
  readLog(): Promise<string>
}

/** Where the setup of the tap runner with pid `runnerPid` keeps its server. */
export function testStateDir (runnerPid: number): string {
  return join(PROJECT_ROOT, '.state', `test-${runnerPid}`)
}

export function descriptionPath (runnerPid: number): string {
  return join(testStateDir(runnerPid), 'run.json')
}

let cached: TestEjabberd | undefined

/**
 * The running test ejabberd. Test files are children of the tap runner, which
 * also ran the setup, so the runner's pid names the description file.
 */
export function testEjabberd (): TestEjabberd {
  if (cached !== undefined) return cached
  const path = process.env[DESCRIPTION_ENV] ?? descriptionPath(process.ppid)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(
      `no test ejabberd: ${path} is missing (${(err as NodeJS.ErrnoException).code ?? String(err)}). ` +
        'Run tests with `npx tap`, whose `before` step (test/setup/before.ts) starts one, ' +
        `or set ${DESCRIPTION_ENV} to a description file.`
    )
  }
  const description = JSON.parse(text) as TestEjabberdDescription
  cached = Object.freeze({
    ...description,
    readLog: () => readFile(description.logPath, 'utf8'),
  })
  return cached
}

/** Runs `scripts/ejabberd.sh COMMAND ARGS --state <test state dir>`; resolves to its trimmed stdout. */
export function ejabberdCtl (args: readonly string[], timeoutMs = CALL_TIMEOUT_MS): Promise<string> {
  return runScript([...args, '--state', testEjabberd().stateDir], timeoutMs)
}

/** Runs scripts/ejabberd.sh with `args`; rejects with its stderr on failure or timeout. */
export function runScript (
  args: readonly string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [EJABBERD_SCRIPT, ...args],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `exit ${String(err.code)}`
          reject(new Error(`scripts/ejabberd.sh ${args.join(' ')}: ${why}\n${stderr.trim()}`, { cause: err }))
          return
        }
        resolve(stdout.trim())
      }
    )
  })
}

/** Creates `name@domain` with `password` (resets the password if it exists). */
export async function register (name: string, password: string): Promise<void> {
  await ejabberdCtl(['register', name, password])
}

/**
 * Creates `${prefix}1` … `${prefix}${count}` in one call; resolves to their
 * user names (without the domain).
 */
export async function registerUsers (prefix: string, count: number, password: string): Promise<string[]> {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad user count: ${count}`)
  await ejabberdCtl(['register-bulk', prefix, String(count), password], BULK_TIMEOUT_MS)
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`)
}

export async function unregister (name: string): Promise<void> {
  await ejabberdCtl(['unregister', name])
}

/** Sessions (bound resources) whose user name starts with `prefix`. */
export async function sessionsWithPrefix (prefix: string): Promise<number> {
  return toCount(await ejabberdCtl(['sessions', prefix]))
}

/** ejabberd_sm:connected_users_number(): every session on the server. */
export async function connectedUsers (): Promise<number> {
  return toCount(await ejabberdCtl(['connected']))
}

/** Evaluates Erlang expressions (`'A = 1, A + 1.'`) on the node; resolves to the value printed with ~tp. */
export async function evalErlang (expr: string): Promise<string> {
  return ejabberdCtl(['eval', expr])
}

/**
 * Polls `condition` every `intervalMs` until it resolves true; rejects after
 * `timeoutMs` with an error naming `what` was awaited.
 */
export async function waitFor (
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 50
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/**
 * Polls until `sessionsWithPrefix(prefix)` equals `expected`, since ejabberd
 * registers and removes sessions asynchronously; resolves to the last count.
 */
export async function waitForSessions (prefix: string, expected: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const count = await sessionsWithPrefix(prefix)
    if (count === expected || Date.now() >= deadline) return count
    await sleep(100)
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function toCount (text: string): number {
  const count = Number(text)
  if (!Number.isSafeInteger(count)) throw new Error(`expected a number from ejabberd, got: ${text}`)
  return count
}
