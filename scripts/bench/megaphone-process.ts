// Child program of bosh-memory.ts: Megaphone in a process of its own, so that
// its RSS and heap are Megaphone's alone. Started as server.ts starts it,
// with app.ts's startMegaphone: loadConfig() from the environment the parent
// sets (where ejabberd is, the domain, 127.0.0.1 port 0; everything else
// Megaphone's defaults, the log level included), one pino logger, and on
// close HTTP first, then the link. It differs only in waiting for the link
// before it tells the parent its port, and in the IPC below. Run with
// --expose-gc: a memory reading collects garbage first.
//
// Parent -> child (IPC): {type: 'memory', gc?: false} | {type: 'heap-snapshot', path} | {type: 'close'}.
// Child -> parent: {type: 'listening', port} | {type: 'memory', memory} |
//                  {type: 'heap-snapshot', path} | {type: 'closed'} | {type: 'error', message}.
import type { AddressInfo } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { pino } from 'pino'
import { startMegaphone } from '../../app.js'
import { loadConfig } from '../../lib/config.js'
import { finish, runChild, toParent, type ErrorMessage } from './child.js'

export interface MegaphoneMemory {
  /** process.memoryUsage(), after global.gc() unless the request said gc: false; bytes. */
  rss: number
  heapUsed: number
  heapTotal: number
  /** C++ objects bound to JS objects (socket handles, buffers), arrayBuffers included. */
  external: number
  arrayBuffers: number
  /** Committed size of each V8 heap space (new_space, old_space, code_space, large_object_space, …), bytes. */
  spaces: Record<string, number>
  /** False when the process runs without --expose-gc: the figures then include garbage. */
  collected: boolean
  /** BOSH sessions in the registry. */
  sessions: number
  /** Connection IDs open on the link. */
  linkSessions: number
  linkStatus: string
  /** HTTP connections open to the server. */
  connections: number
}

/** A memory reading collects garbage first unless `gc` is false (rss.ts: the process as it runs). */
export type MegaphoneRequest = { type: 'memory', gc?: boolean } | { type: 'heap-snapshot', path: string } | { type: 'close' }
export type MegaphoneMessage =
  | { type: 'listening', port: number }
  | { type: 'memory', memory: MegaphoneMemory }
  | { type: 'heap-snapshot', path: string }
  | { type: 'closed' }
  | ErrorMessage

const LINK_READY_TIMEOUT_MS = 30_000
const gc = (globalThis as { gc?: () => void }).gc

const send = toParent<MegaphoneMessage>

runChild('megaphone-process', 'bosh-memory', async () => {
  const config = loadConfig()
  const megaphone = await startMegaphone({ config, logger: pino({ level: config.logLevel }), linkReadyTimeoutMs: LINK_READY_TIMEOUT_MS })
  const { app, link } = megaphone

  const connections = async (): Promise<number> =>
    await new Promise((resolve) => app.server.getConnections((err, count) => resolve(err === null ? count : -1)))

  async function memory (collect: boolean): Promise<MegaphoneMemory> {
    if (collect) {
      // Twice, with a turn between: the first pass can leave finalizer-held objects for the second.
      gc?.()
      await nextTurn()
      gc?.()
    }
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
    return {
      rss,
      heapUsed,
      heapTotal,
      external,
      arrayBuffers,
      spaces: Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.physical_space_size])),
      collected: collect && gc !== undefined,
      sessions: app.bosh.size,
      linkSessions: link.sessionCount,
      linkStatus: link.status,
      connections: await connections()
    }
  }

  process.on('message', (msg: MegaphoneRequest) => {
    if (msg.type === 'memory') {
      memory(msg.gc !== false).then(async (m) => { await send({ type: 'memory', memory: m }) },
        async (err: unknown) => { await send({ type: 'error', message: `memory: ${String(err)}` }) })
    } else if (msg.type === 'heap-snapshot') {
      gc?.()
      const path = writeHeapSnapshot(msg.path)
      void send({ type: 'heap-snapshot', path })
    } else if (msg.type === 'close') {
      // As server.ts shuts down: HTTP first (held requests answered, each session closes its stream), then the link.
      finish('close', async (): Promise<MegaphoneMessage> => {
        await megaphone.close()
        return { type: 'closed' }
      })
    }
  })
  await send({ type: 'listening', port: (app.server.address() as AddressInfo).port })
})
