// Three Megaphone processes behind Debian's HAProxy, configured by
// scripts/haproxy.sh: each process tags its sids with its instance, and
// HAProxy routes every BOSH request of a session to the process that holds
// it, by the sid in the <body> start tag only. Strophe clients over BOSH and
// over WebSocket, through HAProxy's one port, chat in pairs across processes.
import t from 'tap'
import { request } from 'undici'
import { startMegaphone, type Megaphone } from '../helpers/megaphone.js'
import { inBatches } from '../helpers/batches.js'
import { registerUsers, sessionsWithPrefix, testEjabberd, waitFor, waitForSessions } from '../helpers/ejabberd.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { chatInPairs, connect, disconnectAll, PASSWORD, useBoshInNode } from '../helpers/strophe.js'
import { CLOSE, WsClient, loginInOrder } from '../helpers/ws-xmpp.js'
import { megaphoneMemory, startMegaphoneProcess } from '../../scripts/bench/megaphone-child.js'

t.test('BOSH and WebSocket users spread over three Megaphone processes behind HAProxy chat in pairs, every message once and in order', async (t) => {
  const megaphones: Megaphone[] = []
  for (const instance of INSTANCES) {
    megaphones.push(await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: instance, MEGAPHONE_HTTP_TRUST_PROXY: 'true' } }))
  }
  const base = await startHaproxy(t, megaphones)
  useBoshInNode(t)

  const N = 24
  const users = await registerUsers('hapx', N, PASSWORD)
  // Even clients over BOSH, odd over WebSocket, all through HAProxy's one port.
  const clients = await inBatches(users, 8, async (u) => await connect(users.indexOf(u) % 2 === 0 ? `${base}/http-bind` : `${base.replace(/^http/, 'ws')}/xmpp-websocket`, u))
  const bosh = megaphones.map((mp) => mp.app.bosh.size)
  const ws = megaphones.map((mp) => mp.app.websocket.size)
  t.equal(bosh.reduce((a, b) => a + b), N / 2, `${N / 2} BOSH sessions in all`)
  t.equal(ws.reduce((a, b) => a + b), N / 2, `${N / 2} WebSocket sessions in all`)
  t.ok(bosh.every((n) => n > 0), `BOSH sessions on every process (${bosh.join(', ')})`)
  for (const [i, mp] of megaphones.entries()) {
    t.ok([...mp.app.bosh.sids()].every((sid) => sid.startsWith(`${INSTANCES[i] as string}-`)), `process ${INSTANCES[i] as string} issues sids with its tag`)
  }

  // Every later request of a BOSH session reached its own process: a request
  // routed elsewhere would have got item-not-found and ended the session.
  await chatInPairs(t, clients, 20)
  t.same(megaphones.map((mp) => mp.app.bosh.stats.closed.get('item-not-found') ?? 0), [0, 0, 0], 'no request reached a process without its session')
  await disconnectAll(clients)
  await waitFor(() => megaphones.every((mp) => mp.app.bosh.size === 0 && mp.app.websocket.size === 0), 15_000, 'every session to end')
})

t.test('the sid is read from the <body> start tag only, never from a message inside it', async (t) => {
  const megaphones: Megaphone[] = []
  for (const instance of INSTANCES.slice(0, 2)) megaphones.push(await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: instance } }))
  const base = await startHaproxy(t, megaphones)
  // A made-up session of w2, whose body carries a message that spells w1's
  // tag: answered by w2 (item-not-found there, since no such session exists),
  // never by w1, whatever the text.
  const sid = `w2-${'0'.repeat(32)}`
  for (let i = 0; i < 6; i++) {
    const body = `<body xmlns='http://jabber.org/protocol/httpbind' rid='${100 + i}' sid='${sid}'><message xmlns='jabber:client' to='x@localhost'><body>&lt;body sid='w1-abc'&gt; sid='w1-</body></message></body>`
    const res = await request(`${base}/http-bind`, { method: 'POST', body })
    t.match(await res.body.text(), /condition='item-not-found'/)
  }
  t.equal(megaphones[0]?.app.bosh.stats.requests, 0, 'w1 got none of them')
  t.equal(megaphones[1]?.app.bosh.stats.requests, 6, 'w2 got all of them')
})

t.test('draining one process: /health turns 503, new sessions land on the others, its own sessions go on until it closes them', async (t) => {
  const megaphones: Megaphone[] = []
  for (const instance of INSTANCES.slice(0, 2)) megaphones.push(await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: instance } }))
  const [w1, w2] = megaphones as [Megaphone, Megaphone]
  const base = await startHaproxy(t, megaphones)
  const users = await registerUsers('hadr', 7, PASSWORD)
  const wsUrl = `${base.replace(/^http/, 'ws')}/xmpp-websocket`
  const before = await inBatches(users.slice(0, 4), 4, async (u) => await connect(wsUrl, u))
  t.ok(w1.app.websocket.size > 0 && w2.app.websocket.size > 0, 'sessions on both processes')
  const onW1 = w1.app.websocket.size

  w1.app.draining.start()
  const health = await request(`${new URL(w1.baseUrl).origin}/health`)
  t.equal(health.statusCode, 503, 'the draining process\'s /health answers 503')
  t.match(await health.body.json(), { status: 'draining' })
  // At once, before HAProxy's checks have seen it: HAProxy retries the 503 on the other process.
  const after = await inBatches(users.slice(4, 6), 2, async (u) => await connect(wsUrl, u))
  useBoshInNode(t)
  const boshClient = await connect(`${base}/http-bind`, users[6] as string).catch((err: unknown) => err)
  if (boshClient instanceof Error) t.comment(boshClient.message)
  t.equal(w1.app.websocket.size, onW1, 'no new session on the draining process')
  t.equal(w1.app.bosh.size, 0, 'not even over BOSH')
  t.notOk(boshClient instanceof Error, 'the BOSH login went to the other process')
  t.equal(w2.app.websocket.size + w2.app.bosh.size, 6 - onW1 + 1, 'everyone new is on the other process')
  t.ok(before.every((c) => c.conn.connected), 'the draining process\'s sessions go on')

  await disconnectAll([...before, ...after, ...(boshClient instanceof Error ? [] : [boshClient as Awaited<ReturnType<typeof connect>>])])
})

t.test('kill -9 of one Megaphone process: only its users are cut off, and they log in again through HAProxy at once', async (t) => {
  const ej = testEjabberd()
  const procs = []
  for (const instance of INSTANCES.slice(0, 2)) {
    const p = await startMegaphoneProcess(ej, [], { MEGAPHONE_INSTANCE: instance, MEGAPHONE_HTTP_TRUST_PROXY: 'true', MEGAPHONE_LOG_LEVEL: 'warn' })
    t.teardown(() => { if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL') })
    procs.push(p)
  }
  const [w1, w2] = procs as [typeof procs[number], typeof procs[number]]
  const base = await startHaproxy(t, procs.map((p) => ({ baseUrl: new URL(p.url).origin })))
  const wsUrl = `${base.replace(/^http/, 'ws')}/xmpp-websocket`
  const users = await registerUsers('hakl', 8, PASSWORD)
  const { clients, jids } = await loginInOrder(wsUrl, users, PASSWORD)
  const onW1 = (await megaphoneMemory(w1, { gc: false })).linkSessions
  t.ok(onW1 > 0 && onW1 < 8, `sessions on both processes (${onW1} on w1)`)

  const killedAt = Date.now()
  w1.child.kill('SIGKILL')
  // Its clients see their WebSocket drop; the others see nothing.
  await waitFor(() => clients.filter((c) => c.ws.readyState === c.ws.CLOSED).length === onW1, 10_000, 'the killed process\'s clients to see the drop')
  const cut = clients.filter((c) => c.ws.readyState === c.ws.CLOSED)
  const kept = clients.filter((c) => c.ws.readyState === c.ws.OPEN)
  t.equal(kept.length, 8 - onW1, 'the other process\'s clients are still connected')
  t.equal(await waitForSessions('hakl', 8 - onW1), 8 - onW1, 'ejabberd ended the killed process\'s sessions, only those')

  // Each cut-off user logs in again through HAProxy's one port.
  const again = await Promise.all(cut.map(async (c) => {
    const user = users[clients.indexOf(c)] as string
    const fresh = await WsClient.connect(wsUrl)
    await fresh.login(user, PASSWORD)
    return fresh
  }))
  // Measured, not asserted (timing belongs to benchmarks); each login is bounded by the client's own waits.
  t.equal(again.length, onW1, 'every cut-off user logged in again')
  t.comment(`kill -9 to every cut-off user logged in again: ${Date.now() - killedAt} ms`)
  t.equal(await sessionsWithPrefix('hakl'), 8, 'all eight online again')
  t.equal((await megaphoneMemory(w2, { gc: false })).linkSessions, 8, 'all on the surviving process')

  // Users who were never cut chat on.
  const [a, b] = kept as [WsClient, WsClient]
  a.send(`<message to='${jids[clients.indexOf(b)] as string}' type='chat'><body>no error here</body></message>`)
  await b.until(/<body>no error here<\/body>/)
  t.ok(kept.every((c) => !c.received.some((m) => m.startsWith('<stream:error'))), 'and never saw a stream error')
  for (const c of [...kept, ...again]) c.send(CLOSE)
  await Promise.all([...kept, ...again].map(async (c) => await c.closeCode()))
})
