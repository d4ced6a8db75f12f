// The parent's side of megaphone-process.ts: starts Megaphone in a process of
// its own, on Megaphone's defaults except where it finds ejabberd and what it
// serves, and makes the IPC calls.
import type { Ejabberd } from '../../test/helpers/ejabberd.js'
import { sleep } from '../../test/helpers/ejabberd.js'
import { forkChild, nextMessage, withTimeout, type Child } from './harness.js'
import type { MegaphoneMemory, MegaphoneMessage, MegaphoneRequest } from './megaphone-process.js'

const MEGAPHONE_START_TIMEOUT_MS = 60_000
const MEGAPHONE_CLOSE_TIMEOUT_MS = 30_000
const MEGAPHONE_EXIT_TIMEOUT_MS = 10_000
const MEGAPHONE_CALL_TIMEOUT_MS = 30_000

export interface Megaphone extends Child { url: string }

/**
 * The environment of the Megaphone process: Megaphone's defaults (log level
 * included), except where it finds ejabberd and what it serves, and no
 * per-address limits: a load tool opens every session from one address.
 */
export function megaphoneEnv (server: Ejabberd): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('MEGAPHONE_')))
  return {
    ...env,
    MEGAPHONE_LINK_HOST: '127.0.0.1',
    MEGAPHONE_LINK_PORT: String(server.linkPort),
    MEGAPHONE_LINK_SECRET: server.secret,
    MEGAPHONE_HTTP_HOST: '127.0.0.1',
    MEGAPHONE_HTTP_PORT: '0',
    MEGAPHONE_BOSH_DOMAINS: server.domain,
    MEGAPHONE_LIMITS_MAX_SESSIONS_PER_ADDRESS: '0',
    MEGAPHONE_LIMITS_SESSIONS_PER_SECOND_PER_ADDRESS: '0',
    MEGAPHONE_LIMITS_IDLE_CONNECTIONS_PER_ADDRESS: '0'
  }
}

/**
 * Forks megaphone-process with --expose-gc (memory readings collect garbage
 * first) plus `execArgv`, with `extraEnv` over its environment; resolves once
 * it listens, with its BOSH URL. Its log goes to this process's stderr.
 */
export async function startMegaphoneProcess (server: Ejabberd, execArgv: readonly string[] = [], extraEnv: Record<string, string> = {}): Promise<Megaphone> {
  const args = [...process.execArgv.filter((a) => a !== '--expose-gc'), '--expose-gc', ...execArgv]
  const child = forkChild('megaphone-process', [], { execArgv: args, env: { ...megaphoneEnv(server), ...extraEnv } })
  try {
    const msg = await nextMessage<MegaphoneMessage>(child.child, MEGAPHONE_START_TIMEOUT_MS, 'megaphone: start')
    if (msg.type !== 'listening') throw new Error(`megaphone: start: ${msg.type === 'error' ? msg.message : msg.type}`)
    return { ...child, url: `http://127.0.0.1:${msg.port}/http-bind` }
  } catch (err) {
    child.child.kill('SIGKILL')
    throw err
  }
}

/** Sends `request` and resolves to the reply (rejecting on an error reply or none within `timeoutMs`). */
export async function megaphoneCall (megaphone: Megaphone, request: MegaphoneRequest, timeoutMs: number): Promise<MegaphoneMessage> {
  const reply = nextMessage<MegaphoneMessage>(megaphone.child, timeoutMs, `megaphone: ${request.type}`)
  megaphone.child.send(request)
  const msg = await reply
  if (msg.type === 'error') throw new Error(`megaphone: ${msg.message}`)
  return msg
}

/** Closes Megaphone as a shutdown does (held requests answered, then the link) and waits for its process to exit (writing a --cpu-prof profile, if asked). */
export async function stopMegaphoneProcess (megaphone: Megaphone): Promise<void> {
  const msg = await megaphoneCall(megaphone, { type: 'close' }, MEGAPHONE_CLOSE_TIMEOUT_MS)
  if (msg.type !== 'closed') throw new Error(`megaphone: close: unexpected ${msg.type}`)
  await withTimeout('megaphone: exit', MEGAPHONE_EXIT_TIMEOUT_MS, megaphone.exited)
}

/** One memory reading of the Megaphone process: after global.gc() unless `gc` is false. */
export async function megaphoneMemory (megaphone: Megaphone, { gc }: { gc: boolean }): Promise<MegaphoneMemory> {
  const msg = await megaphoneCall(megaphone, { type: 'memory', gc }, MEGAPHONE_CALL_TIMEOUT_MS)
  if (msg.type !== 'memory') throw new Error(`megaphone: memory: unexpected ${msg.type}`)
  return msg.memory
}

/** Waits until Megaphone's registry and link have no session left (readings without a forced GC). */
export async function waitForMegaphoneEmpty (megaphone: Megaphone, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { sessions, linkSessions } = await megaphoneMemory(megaphone, { gc: false })
    if (sessions === 0 && linkSessions === 0) return
    if (Date.now() >= deadline) {
      throw new Error(`megaphone: ${sessions} BOSH sessions and ${linkSessions} link sessions left ${timeoutMs} ms after every client terminated`)
    }
    await sleep(250)
  }
}
