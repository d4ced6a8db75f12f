// Close to this machine's open-file limit (issue 12), without the cap (a
// cap above the limit): three client processes flood a Megaphone process
// until accept() runs out of descriptors (EMFILE), while two pairs of users
// chat through it. The process neither crashes nor stops accepting, and
// serves connections again once descriptors are free (lib/accept-guard.ts).
import t from 'tap'
import { readMetrics } from '../helpers/metrics.js'
import { flood, limit, release, servesNewSessions, skip, startWithChat } from '../helpers/flood.js'

// Tens of thousands of connections from three processes on a busy 2-core machine: allow more than .taprc's 120 s when three files run at once.
t.setTimeout(240_000)

t.test('without the cap, accept() runs out of descriptors (EMFILE): Megaphone neither crashes nor stops accepting', { skip }, async (t) => {
  const { mp, port, chat } = await startWithChat(t, { MEGAPHONE_LIMITS_MAX_CONNECTIONS: String((limit as number) * 2) }, 'fdemfile')
  const { flooders, refused } = await flood(t, port)
  // (No IPC reading now: process.memoryUsage() itself needs a descriptor.)
  t.ok(refused > 0, 'the connections past the limit were refused')
  t.equal(mp.child.exitCode, null, 'the process is up')
  await chat.checkpoint(t, 'out of descriptors')

  await release(flooders, mp)
  await servesNewSessions(t, mp, 'after EMFILE')
  // libuv handled EMFILE itself unless this is above 0 (lib/accept-guard.ts).
  const metrics = await readMetrics(`http://127.0.0.1:${port}`)
  t.comment(`accept errors that reached JavaScript: ${String(metrics.get('megaphone_refused_total{kind="accept-emfile"}'))}`)
  await chat.stop(t)
})
