// Flooding a Megaphone process with connections from several client
// processes (test/helpers/connection-flood.ts), each with the same open-file
// limit, for the file-limit tests; a live chat through it meanwhile.
import type { Test } from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { testEjabberd, waitFor } from './ejabberd.js'
import { startLiveChat, type LiveChat } from './live-chat.js'
import { openFilesLimit } from '../../lib/file-limit.js'
import { megaphoneMemory, startMegaphoneProcess, stopMegaphoneProcess, type Megaphone } from '../../scripts/bench/megaphone-child.js'
import { nextMessage } from '../../scripts/bench/harness.js'
import type { FloodCounts, FloodMessage } from './connection-flood.js'
import { body, postBody } from './bosh-http.js'

/** This process's open-file limit, which Megaphone's process inherits. */
export const limit = openFilesLimit()
export const FLOODERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
/** Why the file-limit tests cannot run here, or false. */
export const skip = limit === null || limit > 30_000 ? `needs an open-file limit of at most 30,000 (found ${String(limit)})` : false
/** Each flooder's share: together a twentieth more than the limit. */
const PER_FLOODER = limit === null ? 0 : Math.ceil(limit * 1.05 / FLOODERS.length)

const ej = testEjabberd()
const self = fileURLToPath(import.meta.url)
const floodScript = join(self, '..', `connection-flood${self.endsWith('.ts') ? '.ts' : '.js'}`)

export interface Flooder { child: ChildProcess, address: string }

function startFlooders (t: Test, port: number): Flooder[] {
  const flooders = FLOODERS.map((address) => ({
    address,
    child: fork(floodScript, [String(port), address, String(PER_FLOODER)], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  }))
  t.teardown(() => { for (const f of flooders) f.child.kill() })
  return flooders
}

async function floodCounts (flooders: Flooder[]): Promise<FloodCounts[]> {
  return await Promise.all(flooders.map(async (f) => await nextMessage<FloodCounts>(f.child, 90_000, `flooder ${f.address}: counts`)))
}

/**
 * Floods `port` from every flooder address until each has tried its share;
 * says in a comment how it went. `open`: connections held; `refused`: the rest.
 */
export async function flood (t: Test, port: number): Promise<{ flooders: Flooder[], open: number, refused: number }> {
  const started = Date.now()
  const flooders = startFlooders(t, port)
  const counts = await floodCounts(flooders)
  const open = counts.reduce((n, c) => n + c.open, 0)
  const refused = counts.reduce((n, c) => n + c.closed + c.failed, 0)
  t.comment(`${FLOODERS.length} processes attempted ${counts.reduce((n, c) => n + c.attempted, 0)} connections in ${Date.now() - started} ms: ${open} held, ${refused} refused`)
  return { flooders, open, refused }
}

/** The flooders close what they hold; resolves once Megaphone has let the connections go. */
export async function release (flooders: Flooder[], mp: Megaphone): Promise<void> {
  await Promise.all(flooders.map(async (f) => {
    const reply = nextMessage<FloodMessage>(f.child, 30_000, `flooder ${f.address}: release`)
    f.child.send({ type: 'release' })
    await reply
  }))
  await waitFor(async () => (await megaphoneMemory(mp, { gc: false })).connections < 100, 60_000, 'the flood\'s connections to close')
}

export async function startWithChat (t: Test, env: Record<string, string>, prefix: string): Promise<{ mp: Megaphone, port: number, baseUrl: string, chat: LiveChat }> {
  // Silent connections are kept (the header bound is long) so that the flood holds what it opened.
  const mp = await startMegaphoneProcess(ej, [], { MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS: '300', MEGAPHONE_HTTP_REQUEST_BODY_SECONDS: '300', ...env })
  t.teardown(async () => { await stopMegaphoneProcess(mp).catch(() => { mp.child.kill('SIGKILL') }) })
  const url = new URL(mp.url)
  const baseUrl = `http://127.0.0.1:${url.port}`
  const chat = await startLiveChat(t, { boshUrl: mp.url, websocketUrl: `ws://127.0.0.1:${url.port}/xmpp-websocket` }, prefix)
  return { mp, port: Number(url.port), baseUrl, chat }
}

/** A new BOSH session and a new connection work. */
export async function servesNewSessions (t: Test, mp: Megaphone, what: string): Promise<void> {
  const created = await postBody(mp.url, body({ rid: 1, to: ej.domain, wait: 5, hold: 1, ver: '1.6', 'xmpp:version': '1.0' }))
  const sid = /sid='([^']+)'/.exec(created.text)?.[1]
  t.ok(sid, `${what}: a new BOSH session is created`)
  if (sid !== undefined) await postBody(mp.url, body({ rid: 2, sid, type: 'terminate' }))
}
