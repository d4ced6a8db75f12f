// Megaphone with links to two ejabberd listeners (lib/link/pool.ts): new
// sessions go to the link with the fewest sessions; losing one link ends
// only the sessions on it, while users on the other chat on; /health and
// /metrics report each link. The two listeners are the test ejabberd's on
// 127.0.0.1 and 127.0.0.2 (one node; a cluster of two is the scale-out
// tests' business), the first behind a proxy that can cut its link.
import t from 'tap'
import { request } from 'undici'
import { startMegaphone } from '../helpers/megaphone.js'
import { registerUsers, testEjabberd, waitFor, waitForSessions } from '../helpers/ejabberd.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { CLOSE, WsClient, loginInOrder } from '../helpers/ws-xmpp.js'

const PASSWORD = 'secret-pw'
const ej = testEjabberd()

t.test('sessions spread over two links; cutting one ends only its sessions; health and metrics show each link', async (t) => {
  const proxy = await FaultProxy.start('127.0.0.1', ej.linkPort)
  t.teardown(async () => await proxy.close())
  const mp = await startMegaphone(t, { env: { MEGAPHONE_LINK_TARGETS: `127.0.0.1:${proxy.port},127.0.0.2:${ej.linkPort}` } })
  const [first, second] = mp.link.links
  const url = mp.websocketUrl

  const users = await registerUsers('lpool', 8, PASSWORD)
  const { clients, jids } = await loginInOrder(url, users, PASSWORD)
  t.equal(first?.sessionCount, 4, 'four sessions on the first link')
  t.equal(second?.sessionCount, 4, 'four on the second: the least loaded link takes each new session')

  const health = await (await request(`${mp.baseUrl}/health`)).body.json() as { links: Array<{ status: string, sessions: number }> }
  t.match(health.links, [{ status: 'ready', sessions: 4 }, { status: 'ready', sessions: 4 }], '/health lists each link')
  const metrics = await (await request(`${mp.baseUrl}/metrics`)).body.text()
  t.match(metrics, new RegExp(`^megaphone_link_target_sessions\\{target="127\\.0\\.0\\.2:${ej.linkPort}"\\} 4$`, 'm'))

  // Which clients are on which link: sessions were placed alternately, first link first.
  const onFirst = clients.filter((_c, i) => i % 2 === 0)
  const onSecond = clients.filter((_c, i) => i % 2 === 1)
  proxy.cut()
  const codes = await Promise.all(onFirst.map(async (c) => await c.closeCode()))
  t.same(codes, [1011, 1011, 1011, 1011], 'the first link\'s clients are dropped, to reconnect')
  t.equal(await waitForSessions('lpool', 4), 4, 'ejabberd ends their sessions')
  t.ok(onSecond.every((c) => c.ws.readyState === c.ws.OPEN), 'the second link\'s clients stay')
  const [a, b] = onSecond as [WsClient, WsClient]
  a.send(`<message to='${jids[3] as string}' type='chat'><body>still here</body></message>`)
  await b.until(/<body>still here<\/body>/)
  t.pass('and chat on')

  // The first link comes back; new sessions go to it again.
  await waitFor(() => first?.status === 'ready', 15_000, 'the first link to reconnect')
  const again = await WsClient.connect(url)
  await again.login(users[0] as string, PASSWORD)
  t.equal(first?.sessionCount, 1, 'a new session goes to the link with the fewest sessions')
  for (const c of [...onSecond, again]) c.send(CLOSE)
  await Promise.all([...onSecond, again].map(async (c) => await c.closeCode()))
})

t.test('a preferred link takes every new session while it is ready', async (t) => {
  const mp = await startMegaphone(t, {
    env: {
      MEGAPHONE_LINK_TARGETS: `127.0.0.1:${ej.linkPort},127.0.0.2:${ej.linkPort}`,
      MEGAPHONE_LINK_PREFER: `127.0.0.2:${ej.linkPort}`
    }
  })
  const url = mp.websocketUrl
  const users = await registerUsers('lpref', 3, PASSWORD)
  const { clients } = await loginInOrder(url, users, PASSWORD)
  t.same(mp.link.links.map((l) => l.sessionCount), [0, 3], 'all on the preferred link')
  for (const c of clients) c.send(CLOSE)
  await Promise.all(clients.map(async (c) => await c.closeCode()))
})
