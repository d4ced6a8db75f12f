// Strophe.js 5 over XMPP-over-WebSocket (RFC 7395) against Megaphone and
// the real ejabberd: its Node build uses `ws` as the browser's WebSocket.
// Then BOSH and WebSocket users chatting with each other on one Megaphone.
import t from 'tap'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkNothingLeft } from '../helpers/sessions.js'
import { inBatches } from '../helpers/batches.js'
import { testEjabberd, registerUsers, sessionsWithPrefix } from '../helpers/ejabberd.js'
import { chatInPairs, connect, disconnectAll, PASSWORD, useBoshInNode } from '../helpers/strophe.js'

const ej = testEjabberd()

t.test('Strophe.js 5 logs 50 clients in over WebSocket; each sends 20 messages to its partner, every one delivered once and in order (RFC 7395)', async (t) => {
  const prefix = 'stws'
  const N = 50
  const PER = 20
  const started = Date.now()
  const users = await registerUsers(prefix, N, PASSWORD)
  const mp = await startMegaphone(t)
  const wsUrl = mp.websocketUrl

  const clients = await inBatches(users, 25, async (u) => await connect(wsUrl, u))
  t.equal(mp.app.websocket.size, N, 'Megaphone holds 50 WebSocket sessions')
  t.equal(mp.app.bosh.size, 0, 'and no BOSH session')
  t.equal(mp.link.sessionCount, N, 'all on the one link')
  t.equal(await sessionsWithPrefix(prefix), N, 'ejabberd sees 50 sessions')
  t.ok(clients.every((c, i) => c.conn.jid === `${users[i]}@${ej.domain}/strophe`), 'each bound the resource it asked for')

  await chatInPairs(t, clients, PER)
  await disconnectAll(clients)
  await checkNothingLeft(t, mp, prefix, 15_000)
  t.comment(`${N} clients, ${N * PER} messages in ${Date.now() - started} ms`)
})

t.test('BOSH users and WebSocket users chat with each other through one Megaphone', async (t) => {
  const prefix = 'mixed'
  const N = 20
  const PER = 20
  const users = await registerUsers(prefix, N, PASSWORD)
  const mp = await startMegaphone(t)
  const wsUrl = mp.websocketUrl
  useBoshInNode(t)

  // Even clients over BOSH, odd over WebSocket: every pair is one of each.
  const clients = await inBatches(users, 10, async (u) => await connect(users.indexOf(u) % 2 === 0 ? mp.boshUrl : wsUrl, u))
  t.equal(mp.app.bosh.size, N / 2, 'half on BOSH')
  t.equal(mp.app.websocket.size, N / 2, 'half on WebSocket')
  await chatInPairs(t, clients, PER)
  await disconnectAll(clients)
  await checkNothingLeft(t, mp, prefix, 15_000)
})
