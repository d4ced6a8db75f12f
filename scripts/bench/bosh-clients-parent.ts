// The parent's side of bosh-clients.ts, for the memory benchmarks
// (bosh-memory.ts, rss.ts): N BOSH sessions logged in by a client process of
// their own, checked (every session alive, one request held), and terminated.
// A ws:// URL gets ws-clients.ts instead: N WebSocket sessions (RFC 7395),
// checked (every one open) and closed, through the same messages.
import type { BoshClientsMessage, BoshClientsOptions, BoshClientsRequest, BoshClientsStatus } from './bosh-clients.js'
import type { Ejabberd } from '../../test/helpers/ejabberd.js'
import { PASSWORD, USER_PREFIX } from './bench-run.js'
import { forkChild, nextMessage, withTimeout, type Child } from './harness.js'

const LOGIN_TIMEOUT_MS = 60_000
const CLOSE_TIMEOUT_MS = 60_000
const STATUS_TIMEOUT_MS = 10_000
const CHILD_EXIT_TIMEOUT_MS = 10_000
/** Login phase: a fixed allowance plus a per-session one. */
const loginTimeoutMs = (n: number): number => 60_000 + 40 * n
/** Terminating every session: a fixed allowance plus a per-session one. */
const terminateTimeoutMs = (n: number): number => 60_000 + 20 * n

export interface ClientSettings {
  /** `wait` asked for at session creation, s. */
  waitSeconds: number
  /** Logins (and terminations) in flight at once. */
  concurrency: number
}

/** The client process now running, if any: killed by the benchmark's cleanup. */
export const runningClients: { current: Child | null } = { current: null }

export interface Clients extends Child { loginMs: number, label: string }

export async function startClients (label: string, url: string, server: Ejabberd, n: number, settings: ClientSettings): Promise<Clients> {
  const opts: BoshClientsOptions = {
    url,
    domain: server.domain,
    prefix: USER_PREFIX,
    count: n,
    password: PASSWORD,
    concurrency: settings.concurrency,
    loginTimeoutMs: LOGIN_TIMEOUT_MS,
    waitSeconds: settings.waitSeconds
  }
  const program = url.startsWith('ws:') || url.startsWith('wss:') ? 'ws-clients' : 'bosh-clients'
  const { child, exited } = runningClients.current = forkChild(program, [JSON.stringify(opts)])
  const ready = await nextMessage<BoshClientsMessage>(child, loginTimeoutMs(n), `${label}: ${n} logins`)
  if (ready.type !== 'ready') throw new Error(`${label}: ${n} logins: ${ready.type === 'error' ? ready.message : ready.type}`)
  return { child, exited, loginMs: ready.loginMs, label }
}

export async function clientCall (clients: Clients, request: BoshClientsRequest, timeoutMs: number): Promise<BoshClientsMessage> {
  const reply = nextMessage<BoshClientsMessage>(clients.child, timeoutMs, `${clients.label}: ${request.type}`)
  clients.child.send(request)
  const msg = await reply
  if (msg.type === 'error') throw new Error(`${clients.label}: ${request.type}: ${msg.message}`)
  return msg
}

export function describe (s: BoshClientsStatus): string {
  return `${s.sessions} sessions, ${s.held} with a request held, ${s.overdue} held past wait, ${s.failures} failed, ` +
    `${s.answered} held requests answered, ${s.reconnects} connections closed by the server` +
    (s.firstFailures.length > 0 ? `; first failures:\n    ${s.firstFailures.join('\n    ')}` : '')
}

/** Every session alive with exactly one request held, or an error that says what is not. */
export async function checkClients (clients: Clients, n: number, when: string): Promise<BoshClientsStatus> {
  const msg = await clientCall(clients, { type: 'status' }, STATUS_TIMEOUT_MS)
  if (msg.type !== 'status') throw new Error(`${clients.label}: status: unexpected ${msg.type}`)
  const s = msg.status
  if (s.sessions !== n || s.held !== n || s.overdue !== 0 || s.failures !== 0) {
    throw new Error(`${clients.label}: ${when}: expected ${n} sessions each with one request held; the clients see ${describe(s)}`)
  }
  return s
}

/** Terminates every session (XEP-0124 13), waits for the client process to exit and ejabberd to have no session. */
export async function terminateClients (server: Ejabberd, clients: Clients, n: number): Promise<number> {
  const msg = await clientCall(clients, { type: 'terminate' }, terminateTimeoutMs(n))
  if (msg.type !== 'terminated') throw new Error(`${clients.label}: terminate: unexpected ${msg.type}`)
  if (msg.status.failures !== 0) throw new Error(`${clients.label}: terminate: ${describe(msg.status)}`)
  await withTimeout(`${clients.label}: client process exit`, CHILD_EXIT_TIMEOUT_MS, clients.exited)
  runningClients.current = null
  await server.waitForConnected(0, CLOSE_TIMEOUT_MS)
  return msg.terminateMs
}

/** N sessions in, checked, and out: for warm-ups. */
export async function inAndOut (label: string, url: string, server: Ejabberd, n: number, settings: ClientSettings): Promise<void> {
  const clients = await startClients(label, url, server, n, settings)
  await checkClients(clients, n, 'after login')
  await terminateClients(server, clients, n)
}
