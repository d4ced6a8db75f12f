// A rolling restart of every Megaphone process behind HAProxy, one at a
// time, under a steady chat load, with a real XEP-0198 client: xmpp.js
// (@xmpp/client), over WebSocket. Each process is drained and closed, as
// SIGTERM does, and a replacement with the same instance tag starts on the
// same port, where HAProxy finds it again. Each client that loses its process
// reconnects through HAProxy to another one and resumes its stream there
// (ejabberd finds the detached session); xmpp.js resends what ejabberd had
// not acknowledged, ejabberd what the client had not. Not one message may be
// lost, duplicated or reordered.
import t from 'tap'
import { startMegaphone, type Megaphone } from '../helpers/megaphone.js'
import { registerUsers, sessionsWithPrefix, waitFor } from '../helpers/ejabberd.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { inBatches } from '../helpers/batches.js'
import { WsClient, openElement } from '../helpers/ws-xmpp.js'
import { chatSteadily, listen, logIn, outOfOrder, stopAll, type Chatter } from '../helpers/xmpp-js.js'

const PASSWORD = 'rolling-pw'
const PAIRS = 6
const SEND_EVERY_MS = 100
const WAIT_MS = 30_000

/** Resolves once HAProxy sends a new WebSocket to `mp`: as the least loaded process, it takes the next one once HAProxy's checks see it up. */
async function waitInRotation (wsUrl: string, mp: Megaphone): Promise<void> {
  await waitFor(async () => {
    const probe = await WsClient.connect(wsUrl)
    probe.send(openElement())
    await probe.until(/^<open /)
    const there = mp.app.websocket.size > 0
    probe.ws.close()
    await probe.closeCode()
    return there
  }, WAIT_MS, 'HAProxy to send new connections to the replacement', 200)
}

t.test('a rolling restart of all three Megaphone processes under steady chat: XEP-0198 clients (xmpp.js) resume elsewhere and lose no message', async (t) => {
  const env = (instance: string, port = '0'): Record<string, string> =>
    ({ MEGAPHONE_INSTANCE: instance, MEGAPHONE_HTTP_TRUST_PROXY: 'true', MEGAPHONE_HTTP_PORT: port })
  const megaphones: Megaphone[] = []
  for (const instance of INSTANCES) megaphones.push(await startMegaphone(t, { env: env(instance) }))
  const base = await startHaproxy(t, megaphones)
  const wsUrl = `${base.replace(/^http/, 'ws')}/xmpp-websocket`

  const prefix = 'roll'
  const users = await registerUsers(prefix, 2 * PAIRS, PASSWORD)
  const chatters = await inBatches(users, 4, async (u) => await logIn(wsUrl, u, PASSWORD))
  t.teardown(async () => await stopAll(chatters))
  const spread = megaphones.map((mp) => mp.app.websocket.size)
  t.ok(spread.every((n) => n > 0), `sessions on every process (${spread.join(', ')})`)
  listen(chatters)
  const chat = chatSteadily(chatters, SEND_EVERY_MS)
  await waitFor(() => chatters.every((c) => c.received.length >= 5), WAIT_MS, 'the chat to be under way')

  const startedAt = Date.now()
  for (const [i, instance] of INSTANCES.entries()) {
    const old = megaphones[i] as Megaphone
    const port = new URL(old.baseUrl).port
    const held = old.app.websocket.size
    const receivedBefore = chatters.reduce((n, c) => n + c.received.length, 0)
    // As SIGTERM does: no new session for a while (HAProxy's checks see 503), then closed.
    await old.drain(1_000)
    await old.close()
    await waitFor(() => chatters.every((c) => c.xmpp.status === 'online'), WAIT_MS, `the clients of ${instance} to be back online`)
    const fresh = await startMegaphone(t, { env: env(instance, port) })
    megaphones[i] = fresh
    await waitInRotation(wsUrl, fresh)
    // The chat goes on through the restart.
    await waitFor(() => chatters.reduce((n, c) => n + c.received.length, 0) > receivedBefore + chatters.length, WAIT_MS, 'messages to flow again')
    t.comment(`${instance} restarted: its ${held} clients back online, replacement in rotation, at ${Date.now() - startedAt} ms`)
  }
  // The last probe's session may take a moment to go.
  await waitFor(() => megaphones.reduce((n, mp) => n + mp.app.websocket.size, 0) === 2 * PAIRS, WAIT_MS, 'every client, and nothing else, on the replacement processes')
  t.pass('every client on a replacement process')
  t.equal(await sessionsWithPrefix(prefix), 2 * PAIRS, 'one session per user in ejabberd: resumed, not duplicated')

  chat.stop()
  await waitFor(() => chatters.every((c, i) => c.received.length >= (chatters[i ^ 1] as Chatter).sent), WAIT_MS, 'every message sent to arrive')
  const wrong = outOfOrder(chatters)
  const total = chatters.reduce((n, c) => n + c.sent, 0)
  t.same(wrong.map((c) => c.user), [], `every client received each of its partner's messages once, in order (${total} messages in all)`)
  for (const c of wrong) t.comment(`${c.user} received ${c.received.join(' ')}`)
  t.same(chatters.flatMap((c) => c.strays), [], 'no message from anyone else')
  t.equal(chatters.reduce((n, c) => n + c.failed, 0), 0, 'no stanza given up by xmpp.js')
  t.ok(chatters.every((c) => c.onlines === 1), 'no client had to log in anew: every reconnection resumed its stream')

  const sum = (f: (c: Chatter) => number): number => chatters.reduce((n, c) => n + f(c), 0)
  t.equal(sum((c) => c.resumed), sum((c) => c.disconnects), 'each dropped connection was resumed')
  t.ok(sum((c) => c.resumed) >= 2 * PAIRS, 'every client was moved at least once')
  t.comment(`${2 * PAIRS} clients, ${INSTANCES.length} processes restarted in ${Date.now() - startedAt} ms: ` +
    `${sum((c) => c.disconnects)} dropped connections, ${sum((c) => c.resumed)} resumptions (XEP-0198), ` +
    `${sum((c) => c.onlines - 1)} fresh log-ins, ${sum((c) => c.resent)} unacknowledged stanzas resent by xmpp.js and ${sum((c) => c.redelivered)} messages redelivered by ejabberd, of ${total} messages`)

  await stopAll(chatters)
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 15_000, 'every session to end')
})
