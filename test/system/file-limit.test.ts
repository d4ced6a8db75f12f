// Close to this machine's open-file limit (issue 12): Megaphone in a process
// of its own, and three client processes (each has the same limit) opening
// silent connections from 127.0.0.2 to .4 until Megaphone refuses them,
// while two pairs of users chat through it (BOSH and WebSocket). With the
// cap (limits.maxConnections: the open-file limit less
// limits.reservedFiles), connections past it are closed at once; the process
// stays up, the chat goes on, and connections are served again once the
// flood ends. (file-limit-emfile.test.ts: the same without the cap.)
import t from 'tap'
import { BUSY_ANSWERS } from '../../lib/accept-guard.js'
import { waitFor } from '../helpers/ejabberd.js'
import { megaphoneMemory } from '../../scripts/bench/megaphone-child.js'
import { openRaw } from '../helpers/raw-http.js'
import { readMetrics } from '../helpers/metrics.js'
import { flood, limit, release, servesNewSessions, skip, startWithChat } from '../helpers/flood.js'

// Tens of thousands of connections from three processes on a busy 2-core machine: allow more than .taprc's 120 s when three files run at once.
t.setTimeout(240_000)

const RESERVED = 256

t.test(`a flood past the connection cap (the open-file limit, ${String(limit)}, less ${RESERVED}) is refused at once, and the chat goes on`, { skip }, async (t) => {
  const { mp, port, baseUrl, chat } = await startWithChat(t, {}, 'fdcap')
  const metrics = await readMetrics(baseUrl)
  const cap = metrics.get('megaphone_http_max_connections')
  t.equal(cap, (limit as number) - RESERVED, 'the cap is the limit less the reserve')
  const { flooders, open, refused } = await flood(t, port)
  const during = await megaphoneMemory(mp, { gc: false })
  t.ok(during.connections <= (cap as number) + BUSY_ANSWERS, `Megaphone holds ${during.connections} connections, within the cap and the ${BUSY_ANSWERS} it answers 503 past it`)
  t.ok(refused > 0, 'the connections past the cap were refused')
  t.ok(open >= (cap as number) - 100, 'and the cap was reached')
  // At the cap: a new connection is closed at once, with nothing sent.
  const late = openRaw(port, '127.0.0.1')
  await waitFor(() => late.closed, 10_000, 'a connection at the cap to be closed')
  t.equal(late.received, '', 'closed without an answer')
  await chat.checkpoint(t, 'at the connection cap')
  const atCap = await readMetrics(baseUrl).catch(() => null)
  t.comment(`refusals counted while at the cap: ${String(atCap?.get('megaphone_refused_total{kind="max-connections"}') ?? 'metrics not reachable')}; open files ${String(atCap?.get('megaphone_process_open_fds'))}`)

  await release(flooders, mp)
  await servesNewSessions(t, mp, 'after the flood')
  const after = await readMetrics(baseUrl)
  t.ok((after.get('megaphone_refused_total{kind="max-connections"}') ?? 0) > 0, 'refusals counted in /metrics')
  t.equal(after.get('megaphone_refused_total{kind="accept-emfile"}'), 0, 'and never out of descriptors')
  await chat.stop(t)
})
