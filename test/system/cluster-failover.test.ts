// Failures in a cluster of two ejabberd nodes (test/helpers/cluster.ts):
// kill -9 of one node ends only the sessions on its links, and the node
// comes back; a XEP-0198 client whose Megaphone process closes resumes its
// stream through another process, on the other node.
import t from 'tap'
import { request } from 'undici'
import { startMegaphone, type Megaphone } from '../helpers/megaphone.js'
import { restartEjabberd, waitFor, type Ejabberd } from '../helpers/ejabberd.js'
import { startCluster } from '../helpers/cluster.js'
import { CLOSE, WsClient, loginInOrder } from '../helpers/ws-xmpp.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { chatSteadily as chatWithXmppJs, listen, logIn, outOfOrder, stopAll, type Chatter } from '../helpers/xmpp-js.js'

// Two ejabberd VMs start and join, one is killed and restarted: allow more than .taprc's 120 s.
t.setTimeout(240_000)

const PASSWORD = 'cluster-pw'

/** Chat bodies `c` received from `from` (a full JID), in arrival order. */
function bodiesFrom (c: WsClient, from: string): string[] {
  return c.received.flatMap((m) => /^<message[^>]*type='chat'/.test(m) && m.includes(`from='${from}'`) ? [/<body>([^<]*)<\/body>/.exec(m)?.[1] ?? ''] : [])
}

/**
 * Pairs (0, 1), (2, 3), … of `clients` send each other s1, s2, … every
 * `everyMs` until `stop`, which resolves to how many each sent.
 */
function chatSteadily (clients: WsClient[], jids: string[], everyMs: number): { stop: () => number } {
  let sent = 0
  const timer = setInterval(() => {
    sent++
    clients.forEach((c, i) => { c.send(`<message to='${jids[i ^ 1] as string}' type='chat'><body>s${sent}</body></message>`) })
  }, everyMs)
  return { stop: () => { clearInterval(timer); return sent } }
}

t.test('kill -9 of one clustered ejabberd node: only its link\'s sessions end, new sessions go to the other node at once, and when it restarts its link and its place in the cluster come back', async (t) => {
  const [a, b] = await startCluster(t, 'kill')
  const users = await a.registerUsers('kill', 12, PASSWORD)
  const mp = await startMegaphone(t, {
    env: {
      MEGAPHONE_LINK_TARGETS: `127.0.0.1:${a.linkPort},127.0.0.1:${b.linkPort}`,
      MEGAPHONE_LINK_SECRET: a.secret,
      MEGAPHONE_BOSH_DOMAINS: a.domain,
      // The killed node's link retries every half second at most, so that its return is seen soon.
      MEGAPHONE_LINK_RECONNECT_MAX_DELAY_MS: '500'
    }
  })
  const [linkA, linkB] = mp.link.links as [typeof mp.link.links[number], typeof mp.link.links[number]]
  const url = mp.websocketUrl
  // Placed alternately: even clients on node a's link, odd on node b's.
  const { clients, jids } = await loginInOrder(url, users.slice(0, 8), PASSWORD)
  t.same(mp.link.links.map((l) => l.sessionCount), [4, 4], 'four sessions on each node\'s link')
  const onA = clients.filter((_c, i) => i % 2 === 0)
  const onB = clients.filter((_c, i) => i % 2 === 1)
  const jidsOnA = jids.filter((_j, i) => i % 2 === 0)

  // The users on node a chat on, steadily, through the kill and the restart.
  const chat = chatSteadily(onA, jidsOnA, 50)
  await waitFor(() => onA.every((c, i) => bodiesFrom(c, jidsOnA[i ^ 1] as string).length >= 3), 10_000, 'the chat on node a to be under way')

  const pid = Number(/\d+/.exec(await b.evalErlang('os:getpid().'))?.[0])
  t.ok(pid > 1, `node b's VM is OS process ${pid}`)
  const killedAt = Date.now()
  process.kill(pid, 'SIGKILL')

  // Node b's link goes down and ends its sessions; their clients are dropped, to reconnect.
  const codes = await Promise.all(onB.map(async (c) => await c.closeCode(15_000)))
  t.same(codes, [1011, 1011, 1011, 1011], 'node b\'s clients are dropped (1011), to reconnect')
  t.not(linkB.status, 'ready', 'node b\'s link is down')
  t.ok(onA.every((c) => c.ws.readyState === c.ws.OPEN), 'node a\'s clients stay connected')

  // The dropped users log in again at once: the pool puts them all on node a.
  const again = await loginInOrder(url, users.filter((_u, i) => i < 8 && i % 2 === 1), PASSWORD)
  t.comment(`kill -9 of node b to its four users logged in again on node a: ${Date.now() - killedAt} ms`)
  t.same(mp.link.links.map((l) => l.sessionCount), [8, 0], 'new sessions go to node a\'s link')
  await waitFor(async () => await a.connectedUsers() === 8, 15_000, 'node a to count its eight sessions, and none of the dead node\'s')

  // Node b starts again on its ports and spool: back in the cluster, and its link is ready again.
  const restartedAt = Date.now()
  const b2 = await restartEjabberd(b, { ownerPid: process.pid })
  const nodes = async (server: Ejabberd): Promise<number> => Number(await server.evalErlang('length(ejabberd_cluster:get_nodes()).'))
  await waitFor(async () => await nodes(a) === 2 && await nodes(b2) === 2, 30_000, 'node b back in the cluster of two')
  await waitFor(() => linkB.status === 'ready', 15_000, 'node b\'s link to be ready again')
  t.comment(`node b restarted (start to cluster and link ready): ${Date.now() - restartedAt} ms`)
  const health = await (await request(`${mp.baseUrl}/health`)).body.json() as { links: Array<{ status: string, sessions: number }> }
  t.match(health.links, [{ status: 'ready', sessions: 8 }, { status: 'ready', sessions: 0 }], '/health shows both links ready')

  // New sessions go to node b's link again, and its users reach node a's.
  const late = await loginInOrder(url, users.slice(8, 10), PASSWORD)
  t.same(mp.link.links.map((l) => l.sessionCount), [8, 2], 'new sessions are placed on node b\'s link again')
  t.equal(await b2.connectedUsers(), 10, 'node b sees all ten sessions of the cluster')
  const [x] = late.clients as [WsClient]
  x.send(`<message to='${jidsOnA[0] as string}' type='chat'><body>from node b again</body></message>`)
  await (onA[0] as WsClient).until(/<body>from node b again<\/body>/, 10_000)
  t.pass('a user on the restarted node reaches a user on node a')

  // Node a's users never saw an error, and lost nothing: every message once, in order.
  const sent = chat.stop()
  const expected = Array.from({ length: sent }, (_v, k) => `s${k + 1}`)
  await waitFor(() => onA.every((c, i) => bodiesFrom(c, jidsOnA[i ^ 1] as string).length >= sent), 15_000, `node a's users to receive all ${sent} messages`)
  t.ok(onA.every((c, i) => JSON.stringify(bodiesFrom(c, jidsOnA[i ^ 1] as string)) === JSON.stringify(expected)), `node a's users each got s1 … s${sent}, once each, in order, across the kill and the restart`)
  t.ok(onA.every((c) => !c.received.some((m) => m.startsWith('<stream:error'))), 'and never saw a stream error')
  t.equal(linkA.status, 'ready', 'node a\'s link stayed ready')

  const all = [...onA, ...again.clients, ...late.clients]
  for (const c of all) c.send(CLOSE)
  await Promise.all(all.map(async (c) => await c.closeCode()))
})

t.test('XEP-0198 across the cluster: a user whose process closes resumes its stream through another process, on the other node, and loses nothing', async (t) => {
  const [a, b] = await startCluster(t, 'resume')
  const targets = `127.0.0.1:${a.linkPort},127.0.0.1:${b.linkPort}`
  // w1 places its sessions on node a, w2 on node b: a client moved from w1 to w2 resumes on the other node.
  const [w1, w2] = await Promise.all([a, b].map(async (node, i) => await startMegaphone(t, {
    env: {
      MEGAPHONE_INSTANCE: INSTANCES[i] as string,
      MEGAPHONE_HTTP_TRUST_PROXY: 'true',
      MEGAPHONE_LINK_TARGETS: targets,
      MEGAPHONE_LINK_PREFER: `127.0.0.1:${node.linkPort}`,
      MEGAPHONE_LINK_SECRET: a.secret,
      MEGAPHONE_BOSH_DOMAINS: a.domain
    }
  }))) as [Megaphone, Megaphone]
  const base = await startHaproxy(t, [w1, w2])
  const wsUrl = `${base.replace(/^http/, 'ws')}/xmpp-websocket`
  const users = await a.registerUsers('xres', 4, PASSWORD)
  const chatters: Chatter[] = []
  t.teardown(async () => await stopAll(chatters))
  for (const u of users) chatters.push(await logIn(wsUrl, u, PASSWORD, a.domain))
  const local = async (node: Ejabberd): Promise<number> => Number(await node.evalErlang('length(ejabberd_sm:dirty_get_my_sessions_list()).'))
  const moved = w1.app.websocket.size
  t.ok(moved > 0 && w2.app.websocket.size > 0, `sessions on both processes (${moved}, ${w2.app.websocket.size})`)
  t.same([await local(a), await local(b)], [moved, 4 - moved], 'w1\'s sessions live on node a, w2\'s on node b')

  listen(chatters)
  const chat = chatWithXmppJs(chatters, 50)
  await waitFor(() => chatters.every((c) => c.received.length >= 5), 15_000, 'the chat to be under way')
  await w1.drain(0)
  await w1.close()
  await waitFor(() => w2.app.websocket.size === 4 && chatters.every((c) => c.xmpp.status === 'online'), 30_000, 'w1\'s clients to come back through w2')
  const sent = chatters.map((c) => c.sent)
  await waitFor(() => chatters.every((c) => c.received.length > (sent[chatters.indexOf(c) ^ 1] as number)), 15_000, 'the chat to go on')
  chat.stop()
  await waitFor(() => chatters.every((c, i) => c.received.length >= (chatters[i ^ 1] as Chatter).sent), 15_000, 'every message sent to arrive')

  t.ok(chatters.every((c) => c.onlines === 1), 'no one logged in anew: w1\'s clients resumed their streams')
  t.equal(chatters.reduce((n, c) => n + c.resumed, 0), moved, `${moved} resumption(s), one per client moved`)
  t.same([await local(a), await local(b)], [0, 4], 'the resumed sessions now live on node b: ejabberd found each on node a and took it over')
  t.same(outOfOrder(chatters).map((c) => c.user), [], `every message once and in order (${chatters.reduce((n, c) => n + c.sent, 0)} in all)`)
  t.same(chatters.flatMap((c) => c.strays), [], 'no message from anyone else')
})
