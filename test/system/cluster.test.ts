// Two ejabberd nodes clustered with ejabberd's own clustering (join_cluster)
// on loopback, each with its megaphone_listener; one Megaphone with a link to
// each (MEGAPHONE_LINK_TARGETS). Users whose sessions live on different
// nodes chat as usual, every message once and in order.
import t from 'tap'
import { startMegaphone, type Megaphone } from '../helpers/megaphone.js'
import { waitFor } from '../helpers/ejabberd.js'
import { startCluster } from '../helpers/cluster.js'
import { CLOSE, WsClient, loginInOrder } from '../helpers/ws-xmpp.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { chatInPairs, connect, disconnectAll, PASSWORD as STROPHE_PASSWORD, useBoshInNode } from '../helpers/strophe.js'
import { inBatches } from '../helpers/batches.js'

// Two ejabberd VMs start and join: allow more than .taprc's 120 s on a busy machine.
t.setTimeout(240_000)

const PASSWORD = 'cluster-pw'

t.test('users on two clustered ejabberd nodes, through one Megaphone with a link to each, chat with each other', async (t) => {
  const [a, b] = await startCluster(t, 'cluster')

  // Accounts live in the cluster's shared tables: registered on a, they log in on b.
  const users = await a.registerUsers('clu', 6, PASSWORD)
  const mp = await startMegaphone(t, {
    env: {
      MEGAPHONE_LINK_TARGETS: `127.0.0.1:${a.linkPort},127.0.0.1:${b.linkPort}`,
      MEGAPHONE_LINK_SECRET: a.secret,
      MEGAPHONE_BOSH_DOMAINS: a.domain
    }
  })
  const url = mp.websocketUrl
  const { clients, jids } = await loginInOrder(url, users, PASSWORD)
  t.same(mp.link.links.map((l) => l.sessionCount), [3, 3], 'three sessions on each node\'s link')
  t.equal(await a.connectedUsers(), 6, 'node a sees all six sessions of the cluster')

  // Pairs (0, 1), (2, 3), (4, 5): sessions were placed alternately, so each pair spans both nodes.
  for (let i = 0; i < clients.length; i += 2) {
    const [x, y] = [clients[i] as WsClient, clients[i + 1] as WsClient]
    for (let k = 1; k <= 10; k++) {
      x.send(`<message to='${jids[i + 1] as string}' type='chat'><body>m${k}</body></message>`)
      y.send(`<message to='${jids[i] as string}' type='chat'><body>m${k}</body></message>`)
    }
  }
  for (const c of clients) await c.until(/<body>m10<\/body>/, 15_000)
  const bodies = (c: WsClient): string[] => c.received.flatMap((m) => /^<message[^>]*type='chat'/.test(m) ? [/<body>([^<]*)<\/body>/.exec(m)?.[1] ?? ''] : [])
  const expected = Array.from({ length: 10 }, (_, k) => `m${k + 1}`)
  t.ok(clients.every((c) => JSON.stringify(bodies(c)) === JSON.stringify(expected)), 'every user got m1 … m10 from the other node, once each, in order')

  for (const c of clients) c.send(CLOSE)
  await Promise.all(clients.map(async (c) => await c.closeCode()))
})

t.test('the whole shape: two clustered nodes, three Megaphone processes each linked to both, HAProxy in front; BOSH and WebSocket users chat across all of it', async (t) => {
  const [a, b] = await startCluster(t, 'shape')
  const megaphones: Megaphone[] = []
  for (const instance of INSTANCES) {
    megaphones.push(await startMegaphone(t, {
      env: {
        MEGAPHONE_INSTANCE: instance,
        MEGAPHONE_HTTP_TRUST_PROXY: 'true',
        MEGAPHONE_LINK_TARGETS: `127.0.0.1:${a.linkPort},127.0.0.1:${b.linkPort}`,
        MEGAPHONE_LINK_SECRET: a.secret,
        MEGAPHONE_BOSH_DOMAINS: a.domain
      }
    }))
  }
  const base = await startHaproxy(t, megaphones)
  useBoshInNode(t)
  const N = 24
  // connect() logs in at the test ejabberd's domain, which is the cluster's too (localhost), with its password.
  const users = await a.registerUsers('shape', N, STROPHE_PASSWORD)
  const clients = await inBatches(users, 8, async (u) => await connect(users.indexOf(u) % 2 === 0 ? `${base}/http-bind` : `${base.replace(/^http/, 'ws')}/xmpp-websocket`, u))
  const perProcess = megaphones.map((mp) => mp.app.bosh.size + mp.app.websocket.size)
  const perNode = [0, 1].map((i) => megaphones.reduce((sum, mp) => sum + (mp.link.links[i]?.sessionCount ?? 0), 0))
  t.ok(perProcess.every((n) => n > 0), `sessions on every process (${perProcess.join(', ')})`)
  t.ok(perNode.every((n) => n > 0), `sessions on both nodes (${perNode.join(', ')})`)
  t.equal(await a.connectedUsers(), N, 'the cluster holds every session')
  await chatInPairs(t, clients, 10)
  await disconnectAll(clients)
  await waitFor(async () => await a.connectedUsers() === 0, 45_000, 'every session to end')
})
