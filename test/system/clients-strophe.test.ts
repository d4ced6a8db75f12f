// Strophe.js 5, the BOSH client browsers use, against Megaphone and the real
// ejabberd: its Node build, with test/helpers/xhr-polyfill.ts as the
// browser's XMLHttpRequest (XEP-0124, XEP-0206).
import t from 'tap'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkNothingLeft } from '../helpers/sessions.js'
import { checkBodiesAgainstSchema, recordBody } from '../helpers/bosh-http.js'
import { inBatches } from '../helpers/batches.js'
import { testEjabberd, registerUsers, sessionsWithPrefix } from '../helpers/ejabberd.js'
import { chatInPairs, connect, disconnectAll, PASSWORD, useBoshInNode } from '../helpers/strophe.js'

const ej = testEjabberd()

t.test('Strophe.js 5 logs 50 clients in through Megaphone; each sends 20 messages to its partner, every one delivered once and in order (XEP-0124, XEP-0206)', async (t) => {
  const prefix = 'strophe'
  const N = 50
  const PER = 20
  const started = Date.now()
  const users = await registerUsers(prefix, N, PASSWORD)
  const mp = await startMegaphone(t)
  // One agent for the polyfill, so its keep-alive sockets end with the test.
  useBoshInNode(t, recordBody)

  const clients = await inBatches(users, 25, async (u) => await connect(mp.boshUrl, u))
  t.equal(mp.app.bosh.size, N, 'Megaphone holds 50 BOSH sessions')
  t.equal(mp.link.sessionCount, N, 'all on the one link')
  t.equal(await sessionsWithPrefix(prefix), N, 'ejabberd sees 50 sessions')
  const jids = clients.map((c) => c.conn.jid as string)
  t.ok(jids.every((jid, i) => jid === `${users[i]}@${ej.domain}/strophe`), 'each bound the resource it asked for')

  await chatInPairs(t, clients, PER)
  await disconnectAll(clients)
  await checkNothingLeft(t, mp, prefix, 15_000)
  t.comment(`${N} clients, ${N * PER} messages in ${Date.now() - started} ms`)
})

checkBodiesAgainstSchema(t)
