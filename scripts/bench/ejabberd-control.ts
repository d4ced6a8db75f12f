// A benchmark's own private ejabberd: started on free loopback ports in its own
// state directory through scripts/ejabberd.sh, measured, and stopped. Every call
// runs the script in a child process with a timeout.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import net from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The directory holding package.json, from dist/scripts/bench/ or scripts/bench/ alike. */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)))
const SCRIPT = join(PROJECT_ROOT, 'scripts/ejabberd.sh')

const START_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 90_000
const CALL_TIMEOUT_MS = 60_000
const BULK_TIMEOUT_MS = 300_000

// A developer's shell may hold the dev server's settings (`eval "$(ejabberd.sh env)"`);
// the benchmark's server gets its own.
const INHERITED_SETTINGS = new Set([
  'MEGAPHONE_EJABBERD_STATE',
  'MEGAPHONE_EJABBERD_C2S_PORT',
  'MEGAPHONE_EJABBERD_HTTP_PORT',
  'MEGAPHONE_EJABBERD_DOMAIN',
  'MEGAPHONE_EJABBERD_NO_LINK',
  'MEGAPHONE_LINK_PORT',
  'MEGAPHONE_LINK_SECRET'
])
const scriptEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !INHERITED_SETTINGS.has(key)))

export interface BenchEjabberd {
  readonly stateDir: string
  readonly domain: string
  readonly c2sPort: number
  /** ejabberd_http: its own BOSH at /http-bind (mod_bosh). */
  readonly httpPort: number
  readonly linkPort: number
  readonly secret: string
  readonly logPath: string
}

function findProjectRoot (from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts/ejabberd.sh'))) return dir
    if (dirname(dir) === dir) return resolve(from, '../..')
  }
}

/** Runs scripts/ejabberd.sh with `args`; resolves to its trimmed stdout, rejects with its stderr. */
export async function runScript (args: readonly string[], timeoutMs = CALL_TIMEOUT_MS): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, ...args],
      { env: scriptEnv, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err !== null) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `exit ${String(err.code)}`
          reject(new Error(`scripts/ejabberd.sh ${args.join(' ')}: ${why}\n${stderr.trim()}`))
          return
        }
        resolve(stdout.trim())
      })
  })
}

/** Ports the kernel hands out for port 0, all held at once so that they differ. */
async function freePorts (count: number): Promise<number[]> {
  const servers: net.Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map(async (server) => await new Promise((resolve) => server.close(resolve))))
  }
}

/**
 * Starts ejabberd in `stateDir` (megaphone_listener included). `ownerPid`: the
 * script's watcher stops the server if that process dies without cleaning up.
 */
export async function startEjabberd (stateDir: string, ownerPid: number): Promise<BenchEjabberd> {
  for (let attempt = 1; ; attempt++) {
    const [c2sPort, httpPort, linkPort] = await freePorts(3) as [number, number, number]
    try {
      await runScript(['start', '--state', stateDir, '--c2s-port', String(c2sPort), '--http-port', String(httpPort),
        '--link-port', String(linkPort), '--owner-pid', String(ownerPid)], START_TIMEOUT_MS)
      break
    } catch (err) {
      // Another process may take a free port between our check and ejabberd's bind.
      if (!/already in use/.test(String(err)) || attempt >= 3) throw err
    }
  }
  const env = JSON.parse(await runScript(['env', '--json', '--state', stateDir])) as {
    domain: string, c2sPort: number, httpPort: number, linkPort: number, secret: string, stateDir: string, logPath: string
  }
  return {
    stateDir: env.stateDir,
    domain: env.domain,
    c2sPort: env.c2sPort,
    httpPort: env.httpPort,
    linkPort: env.linkPort,
    secret: env.secret,
    logPath: env.logPath
  }
}

/** Stops the server if it runs; removes its state directory unless `keep`. */
export async function stopEjabberd (stateDir: string, keep: boolean): Promise<void> {
  if (!existsSync(stateDir)) return
  await runScript(['stop', '--state', stateDir], STOP_TIMEOUT_MS)
  if (!keep) await rm(stateDir, { recursive: true, force: true })
}

export async function registerBulk (stateDir: string, prefix: string, count: number, password: string): Promise<void> {
  await runScript(['register-bulk', prefix, String(count), password, '--state', stateDir], BULK_TIMEOUT_MS)
}

/** Evaluates Erlang expressions on the node; resolves to the value printed with ~tp. */
export async function evalErlang (stateDir: string, expr: string, timeoutMs = CALL_TIMEOUT_MS): Promise<string> {
  return await runScript(['eval', expr, '--state', stateDir], timeoutMs)
}

/** ejabberd_sm:connected_users_number(): the bound sessions on the node. */
export async function connectedUsers (stateDir: string): Promise<number> {
  const text = await runScript(['connected', '--state', stateDir])
  const count = Number(text)
  if (!Number.isSafeInteger(count)) throw new Error(`expected a number from ejabberd, got: ${text}`)
  return count
}

/** Polls `connectedUsers` until it equals `expected`; rejects after `timeoutMs`. */
export async function waitForSessions (stateDir: string, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const count = await connectedUsers(stateDir)
    if (count === expected) return
    if (Date.now() >= deadline) throw new Error(`ejabberd has ${count} sessions, not ${expected}, after ${timeoutMs} ms`)
    await sleep(250)
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
