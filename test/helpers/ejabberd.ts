// The managed ejabberd (scripts/ejabberd.sh), for the tests, their setup
// (test/setup/) and the benchmarks (scripts/bench/) alike: start and stop one
// on free loopback ports, and call it. Control calls go over the server's own
// HTTP listener (POST /megaphone-ctl/FUNCTION, megaphone_ctl_http.erl, with
// the node's cookie), each bounded by a timeout, so test files running in
// parallel can call at once; start, stop and eval run the script in a child
// process. The node's side of the calls is megaphone_ctl (ejabberd/src/).
//
// Tests use the run's server, started once by test/setup/before.ts:
// `testEjabberd()` and the functions below it. Namespace users with a prefix
// per test.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import { request } from 'undici'
import { freePorts } from './ports.js'
import { PROJECT_ROOT } from './root.js'

export { PROJECT_ROOT }
const SCRIPT = join(PROJECT_ROOT, 'scripts/ejabberd.sh')

/** Set to a description file's path to run a test file outside `npx tap`. */
export const DESCRIPTION_ENV = 'MEGAPHONE_TEST_EJABBERD'

const CALL_TIMEOUT_MS = 30_000
const BULK_TIMEOUT_MS = 300_000
const START_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 90_000
const START_ATTEMPTS = 3

// A developer's shell may hold the dev server's settings (`eval "$(ejabberd.sh
// env)"`); a server started here gets its own, and says whether it has the
// link with `link` below. Install paths and other switches still apply.
const INHERITED_SETTINGS = new Set([
  'MEGAPHONE_EJABBERD_STATE',
  'MEGAPHONE_EJABBERD_C2S_PORT',
  'MEGAPHONE_EJABBERD_HTTP_PORT',
  'MEGAPHONE_EJABBERD_DOMAIN',
  'MEGAPHONE_EJABBERD_NO_LINK',
  'MEGAPHONE_EJABBERD_CALL_TIMEOUT',
  'MEGAPHONE_LINK_PORT',
  'MEGAPHONE_LINK_SECRET',
])
const scriptEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !INHERITED_SETTINGS.has(key)))

/** What `scripts/ejabberd.sh env --json` prints. */
export interface EjabberdDescription {
  /** Erlang node name, e.g. `megaphone-1a2b3c4d@localhost`. */
  readonly node: string
  readonly cookie: string
  /** XMPP domain users live in, e.g. `localhost`. */
  readonly domain: string
  /** Every listener binds this address. */
  readonly host: '127.0.0.1'
  readonly c2sPort: number
  /** ejabberd's own HTTP listener: BOSH at `/http-bind` (mod_bosh), websocket at `/ws`. */
  readonly httpPort: number
  /** Whether megaphone_listener is configured. */
  readonly link: boolean
  /** megaphone_listener's port and shared secret. */
  readonly linkPort: number
  readonly secret: string
  readonly stateDir: string
  readonly logPath: string
}

/** A running managed ejabberd and the calls tests and benchmarks make to it. */
export interface Ejabberd extends EjabberdDescription {
  /**
   * Calls megaphone_ctl:`fn` on the node with each argument as a binary
   * (over HTTP, megaphone_ctl_http); resolves to its result, parsed from JSON.
   */
  ctl<T = unknown>(fn: string, ...args: ReadonlyArray<string | number>): Promise<T>
  /** The same with a timeout of its own, for long calls. */
  ctlWithin<T = unknown>(timeoutMs: number, fn: string, ...args: ReadonlyArray<string | number>): Promise<T>
  /** Evaluates Erlang expressions (`'A = 1, A + 1.'`) on the node; resolves to the value printed with ~tp. */
  evalErlang(expr: string, timeoutMs?: number): Promise<string>
  /** Creates `${prefix}1` … `${prefix}${count}` in one call; resolves to their user names (without the domain). */
  registerUsers(prefix: string, count: number, password: string): Promise<string[]>
  /** Every session on the server. */
  connectedUsers(): Promise<number>
  /** Polls `connectedUsers` until it equals `expected`; rejects after `timeoutMs`. */
  waitForConnected(expected: number, timeoutMs: number): Promise<void>
  /** ejabberd's log so far (ejabberd.log: info and above). */
  readLog(): Promise<string>
}

/** Runs scripts/ejabberd.sh with `args`; resolves to its trimmed stdout, rejects with its stderr on failure or timeout. */
function runScript (args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [SCRIPT, ...args],
      { env: { ...scriptEnv, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
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

/** The calls to the server whose state is in `description.stateDir`. */
export function ejabberd (description: EjabberdDescription): Ejabberd {
  const { stateDir } = description
  const ctlUrl = `http://${description.host}:${description.httpPort}/megaphone-ctl/`
  const ctlWithin = async <T>(timeoutMs: number, fn: string, ...args: ReadonlyArray<string | number>): Promise<T> => {
    const res = await request(ctlUrl + encodeURIComponent(fn), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-megaphone-ctl': description.cookie },
      body: JSON.stringify(args.map(String)),
      signal: AbortSignal.timeout(timeoutMs)
    }).catch((err: unknown) => { throw new Error(`megaphone_ctl ${fn}: ${String(err)}`, { cause: err }) })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`megaphone_ctl ${fn} ${JSON.stringify(args)}: HTTP ${res.statusCode}: ${text.trim()}`)
    return JSON.parse(text) as T
  }
  const ctl = async <T>(fn: string, ...args: ReadonlyArray<string | number>): Promise<T> =>
    await ctlWithin<T>(CALL_TIMEOUT_MS, fn, ...args)
  const connectedUsers = async (): Promise<number> => await ctl<number>('connected')
  return Object.freeze({
    ...description,
    ctl,
    ctlWithin,
    evalErlang: async (expr: string, timeoutMs = CALL_TIMEOUT_MS) =>
      await runScript(['eval', '--state', stateDir, '--', expr], timeoutMs),
    registerUsers: async (prefix: string, count: number, password: string) => {
      if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad user count: ${count}`)
      await ctlWithin(BULK_TIMEOUT_MS, 'register_bulk', prefix, description.domain, count, password)
      return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`)
    },
    connectedUsers,
    waitForConnected: async (expected: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const count = await connectedUsers()
        if (count === expected) return
        if (Date.now() >= deadline) throw new Error(`ejabberd has ${count} sessions, not ${expected}, after ${timeoutMs} ms`)
        await sleep(250)
      }
    },
    readLog: async () => await readFile(description.logPath, 'utf8'),
  })
}

/** The server whose state is in `stateDir`, as `scripts/ejabberd.sh env` describes it. */
export async function ejabberdIn (stateDir: string): Promise<Ejabberd> {
  return ejabberd(JSON.parse(await runScript(['env', '--json', '--state', stateDir], CALL_TIMEOUT_MS)) as EjabberdDescription)
}

/**
 * Starts ejabberd in `stateDir` on free loopback ports, with megaphone_listener
 * unless `link` is false. `ownerPid`: the script's watcher stops the server if
 * that process dies without stopping it.
 */
export async function startEjabberd (
  { stateDir, ownerPid, link = true }: { stateDir: string, ownerPid: number, link?: boolean }
): Promise<Ejabberd> {
  for (let attempt = 1; ; attempt++) {
    const [c2sPort, httpPort, linkPort] = (await freePorts(3)) as [number, number, number]
    try {
      await runScript([
        'start',
        '--state', stateDir,
        '--c2s-port', String(c2sPort),
        '--http-port', String(httpPort),
        '--link-port', String(linkPort),
        '--owner-pid', String(ownerPid),
        ...(link ? [] : ['--no-link']),
      ], START_TIMEOUT_MS)
      return await ejabberdIn(stateDir)
    } catch (err) {
      // Another process may take a free port between our check and ejabberd's bind.
      if (!/already in use/.test(String(err)) || attempt >= START_ATTEMPTS) throw err
    }
  }
}

/**
 * Starts again, on the same ports and state (its spool, so a cluster member
 * rejoins its cluster), a server described by `server` that has stopped or
 * died. A node killed a moment ago may still hold its epmd name or a port:
 * the start is retried until `timeoutMs`.
 */
export async function restartEjabberd (
  server: EjabberdDescription,
  { ownerPid, timeoutMs = START_TIMEOUT_MS }: { ownerPid: number, timeoutMs?: number }
): Promise<Ejabberd> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await runScript([
        'start',
        '--state', server.stateDir,
        '--c2s-port', String(server.c2sPort),
        '--http-port', String(server.httpPort),
        '--link-port', String(server.linkPort),
        '--domain', server.domain,
        '--owner-pid', String(ownerPid),
        ...(server.link ? [] : ['--no-link']),
      ], Math.max(1_000, deadline - Date.now()))
      return await ejabberdIn(server.stateDir)
    } catch (err) {
      if (!/already in use|registered in epmd/.test(String(err)) || Date.now() >= deadline) throw err
      await sleep(200)
    }
  }
}

/** Stops the server in `stateDir` if it runs (`now`: kills it at once), then deletes the directory unless `keep`. */
export async function stopEjabberd (stateDir: string, { keep = false, now = false }: { keep?: boolean, now?: boolean } = {}): Promise<void> {
  if (!existsSync(stateDir)) return
  await runScript(['stop', '--state', stateDir, ...(now ? ['--now'] : [])], STOP_TIMEOUT_MS)
  if (!keep) await rm(stateDir, { recursive: true, force: true })
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

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

// ------------------------------------------------------------ the test run's server

/** What the global setup writes to `.state/test-<runner pid>/run.json`. */
export interface TestEjabberdDescription extends EjabberdDescription {
  /** ejabberd's own BOSH endpoint, the baseline Megaphone is compared to. */
  readonly boshUrl: string
  /** The tap runner that owns this server; it is stopped when that process exits. */
  readonly runnerPid: number
}

export type TestEjabberd = Ejabberd & TestEjabberdDescription

/** Where the setup of the tap runner with pid `runnerPid` keeps its server. */
export function testStateDir (runnerPid: number): string {
  return join(PROJECT_ROOT, '.state', `test-${runnerPid}`)
}

export function descriptionPath (runnerPid: number): string {
  return join(testStateDir(runnerPid), 'run.json')
}

/** Where test/setup/start-server.ts says why the run's server did not start. */
export function startErrorPath (runnerPid: number): string {
  return join(testStateDir(runnerPid), 'run.error')
}

/** How long a test file, or `after`, waits for the run's server to be up (it boots in 3 to 5 s). */
export const START_WAIT_MS = 120_000

/**
 * Whether the run's server is up ('ready'), failed to start ('failed'), or
 * still starting: test/setup/start-server.ts writes one of the two files.
 */
export function startState (runnerPid: number): 'ready' | 'failed' | 'starting' {
  if (existsSync(descriptionPath(runnerPid))) return 'ready'
  return existsSync(startErrorPath(runnerPid)) ? 'failed' : 'starting'
}

let cached: TestEjabberd | undefined

/**
 * The running test ejabberd. Test files are children of the tap runner, which
 * also ran the setup, so the runner's pid names the description file.
 */
export function testEjabberd (): TestEjabberd {
  if (cached !== undefined) return cached
  const override = process.env[DESCRIPTION_ENV]
  const path = override ?? descriptionPath(process.ppid)
  if (override === undefined) {
    // The server boots while the first files run (test/setup/before.ts): wait
    // for it here, once per file, blocking (nothing else in this process
    // needs the event loop yet: files call this as they load).
    const pause = new Int32Array(new SharedArrayBuffer(4))
    const deadline = Date.now() + START_WAIT_MS
    for (;;) {
      const state = startState(process.ppid)
      if (state === 'ready') break
      if (state === 'failed') {
        throw new Error(`the test ejabberd did not start: ${readFileSync(startErrorPath(process.ppid), 'utf8')}`)
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `no test ejabberd after ${START_WAIT_MS / 1000} s: ${path} is missing. ` +
            'Run tests with `npx tap`, whose `before` step (test/setup/before.ts) starts one, ' +
            `or set ${DESCRIPTION_ENV} to a description file.`
        )
      }
      Atomics.wait(pause, 0, 0, 50)
    }
  }
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`no test ejabberd: ${path} is missing (${(err as NodeJS.ErrnoException).code ?? String(err)}).`)
  }
  const description = JSON.parse(text) as TestEjabberdDescription
  cached = Object.freeze({ ...ejabberd(description), boshUrl: description.boshUrl, runnerPid: description.runnerPid })
  return cached
}

/** megaphone_ctl:`fn`(args…) on the test server (see `Ejabberd.ctl`). */
export async function ctl<T = unknown> (fn: string, ...args: ReadonlyArray<string | number>): Promise<T> {
  return await testEjabberd().ctl<T>(fn, ...args)
}

/** Evaluates Erlang expressions on the test server; resolves to the value printed with ~tp. */
export async function evalErlang (expr: string): Promise<string> {
  return await testEjabberd().evalErlang(expr)
}

/** Creates `name@domain` with `password` (resets the password if it exists). */
export async function register (name: string, password: string): Promise<void> {
  await ctl('register', name, testEjabberd().domain, password)
}

/** Creates `${prefix}1` … `${prefix}${count}`; resolves to their user names. */
export async function registerUsers (prefix: string, count: number, password: string): Promise<string[]> {
  return await testEjabberd().registerUsers(prefix, count, password)
}

/**
 * Two users on each other's roster with a mutual subscription, as if both had
 * accepted (named Bea and Al there): their user names and bare JIDs. `t`
 * checks that each roster item was added.
 */
export async function registerContacts (t: Test, prefix: string, password: string): Promise<{ a: string, b: string, jidA: string, jidB: string }> {
  const { domain } = testEjabberd()
  const [a, b] = await registerUsers(prefix, 2, password) as [string, string]
  for (const [user, contact, name] of [[a, b, 'Bea'], [b, a, 'Al']] as const) {
    t.equal(await ctl('add_roster_item', user, domain, `${contact}@${domain}`, name, 'both'), 'ok')
  }
  return { a, b, jidA: `${a}@${domain}`, jidB: `${b}@${domain}` }
}

export async function unregister (name: string): Promise<void> {
  await ctl('unregister', name, testEjabberd().domain)
}

/** Sessions (bound resources) whose user name starts with `prefix`. */
export async function sessionsWithPrefix (prefix: string): Promise<number> {
  return await ctl<number>('sessions', prefix, testEjabberd().domain)
}

/** Every session on the test server. */
export async function connectedUsers (): Promise<number> {
  return await testEjabberd().connectedUsers()
}

/**
 * Polls until `sessionsWithPrefix(prefix)` equals `expected`, since ejabberd
 * registers and removes sessions asynchronously; resolves to the last count
 * (bounded by `timeoutMs`), so the caller's assertion names what was left.
 */
export async function waitForSessions (prefix: string, expected: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const count = await sessionsWithPrefix(prefix)
    if (count === expected || Date.now() >= deadline) return count
    await sleep(100)
  }
}
