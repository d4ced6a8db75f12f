// The link against the real ejabberd (started once per run by test/setup):
// sessions multiplexed over one TCP connection, logging in, chatting, and the
// failure paths of docs/link-protocol.md. No HTTP here.
import t, { type Test } from 'tap'
import { Link, type LinkOptions } from '../../lib/link/link.js'
import { ErrorCode } from '../../lib/errors.js'
import { NS_FRAMING } from '../../lib/link/constants.js'
import { LinkXmppClient, chat } from '../helpers/link-xmpp-client.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { testEjabberd, registerUsers, sessionsWithPrefix, waitForSessions, waitFor, ctl } from '../helpers/ejabberd.js'
import { buildApp } from '../../app.js'
import { testConfig } from '../helpers/megaphone.js'
import { pino } from 'pino'
import { Writable } from 'node:stream'

const ej = testEjabberd()
const PASSWORD = 'secret-pw'

function newLink (t: Test, opts: Partial<LinkOptions> = {}): Link {
  const link = new Link({ host: '127.0.0.1', port: ej.linkPort, secret: ej.secret, ...opts })
  link.start()
  t.teardown(async () => await link.close())
  return link
}

/** A link that is up, closed when the test ends. */
async function readyLink (t: Test, opts: Partial<LinkOptions> = {}): Promise<Link> {
  const link = newLink(t, opts)
  await link.waitReady(10_000)
  return link
}

/** A ready link that goes through a fault proxy, both closed when the test ends. */
async function proxiedLink (t: Test, opts: Partial<LinkOptions> = {}): Promise<{ link: Link, proxy: FaultProxy }> {
  const proxy = await FaultProxy.start('127.0.0.1', ej.linkPort)
  t.teardown(async () => await proxy.close())
  return { link: await readyLink(t, { port: proxy.port, ...opts }), proxy }
}

async function loginAll (link: Link, users: string[]): Promise<LinkXmppClient[]> {
  return await Promise.all(users.map(async (user) => {
    const c = new LinkXmppClient(link)
    await c.login(user, PASSWORD, ej.domain)
    return c
  }))
}

/** Registers `${prefix}1` … `${prefix}${count}` and logs them all in on `link`. */
async function usersOnline (link: Link, prefix: string, count: number): Promise<LinkXmppClient[]> {
  return await loginAll(link, await registerUsers(prefix, count, PASSWORD))
}

t.test('two users log in over one link and exchange presence and a UTF-8 message (RFC 6120, RFC 7395 framing)', async (t) => {
  const prefix = 'lk2u'
  const link = await readyLink(t)
  const [alice, bob] = await usersOnline(link, prefix, 2) as [LinkXmppClient, LinkXmppClient]
  t.equal(link.sessionCount, 2)
  t.equal(await sessionsWithPrefix(prefix), 2, 'ejabberd sees both sessions')

  // Directed presence, since the two are not on each other's roster.
  alice.send(`<presence xmlns='jabber:client' to='${prefix}2@${ej.domain}'/>`)
  const presence = await bob.wait((el) => el.name === 'presence' && el.attrs.from?.startsWith(`${prefix}1@`) === true)
  t.equal(presence.attrs.from, `${prefix}1@${ej.domain}/link`)

  const text = 'héllo → 世界 🎉 <&> "quoted"'
  alice.send(chat(`${prefix}2@${ej.domain}`, text, 'm1'))
  const got = await bob.wait((el) => el.name === 'message' && el.attrs.id === 'm1')
  t.equal(got.getChildText('body'), text, 'body arrives byte for byte')
  t.equal(got.attrs.xmlns, 'jabber:client', 'stanzas come namespaced, one per frame')

  await Promise.all([alice.logout(), bob.logout()])
  t.equal(await waitForSessions(prefix, 0, 10_000), 0)
})

t.test('500 sessions on one link each send 10 messages: each delivered exactly once, in order', async (t) => {
  const prefix = 'lk500u'
  const N = 500
  const PER = 10
  const users = await registerUsers(prefix, N, PASSWORD)
  const link = await readyLink(t)
  // Log in in batches so the test measures correctness, not connect storms.
  const clients: LinkXmppClient[] = []
  for (let i = 0; i < N; i += 100) clients.push(...await loginAll(link, users.slice(i, i + 100)))
  t.equal(link.sessionCount, N)
  t.equal(await sessionsWithPrefix(prefix), N, 'ejabberd holds all 500 sessions')

  // Each user i writes to partner (i + 1) mod N, so everyone sends and receives.
  const received = clients.map(() => [] as string[])
  const allIn = clients.map(async (c, i) => {
    for (let k = 0; k < PER; k++) {
      const el = await c.wait((el) => el.name === 'message' && el.getChild('body') !== undefined, 60_000, `message ${k}`)
      received[i]!.push(el.getChildText('body') as string)
    }
  })
  clients.forEach((c, i) => {
    const to = `${users[(i + 1) % N]}@${ej.domain}`
    for (let k = 0; k < PER; k++) c.send(chat(to, `${users[i]}#${k}`))
  })
  await Promise.all(allIn)
  let inOrder = 0
  received.forEach((bodies, i) => {
    const sender = users[(i - 1 + N) % N]
    const expected = Array.from({ length: PER }, (_, k) => `${sender}#${k}`)
    if (JSON.stringify(bodies) === JSON.stringify(expected)) inOrder++
  })
  t.equal(inOrder, N, 'every receiver got its sender\'s 10 messages once and in order')
  // Nothing extra arrived: no duplicates hiding in the inboxes.
  t.equal(clients.reduce((n, c) => n + c.inbox.filter((el) => el.name === 'message').length, 0), 0, 'no duplicates')

  await Promise.all(clients.map(async (c) => await c.logout(30_000)))
  t.equal(await waitForSessions(prefix, 0, 30_000), 0, 'connected users back to 0')
})

t.test('ejabberd sees the browser\'s address from open, not Megaphone\'s (Sessions)', async (t) => {
  const prefix = 'lkip'
  await registerUsers(prefix, 2, PASSWORD)
  const link = await readyLink(t)
  const v4 = new LinkXmppClient(link, '203.0.113.9', 4242)
  const v6 = new LinkXmppClient(link, '2001:db8::7', 443)
  await v4.login(`${prefix}1`, PASSWORD, ej.domain, 'v4')
  await v6.login(`${prefix}2`, PASSWORD, ej.domain, 'v6')
  const ip = async (user: string, resource: string): Promise<unknown> => await ctl('user_ip', user, ej.domain, resource)
  t.same(await ip(`${prefix}1`, 'v4'), { ip: '203.0.113.9', port: 4242 })
  t.same(await ip(`${prefix}2`, 'v6'), { ip: '2001:db8::7', port: 443 })
  await Promise.all([v4.logout(), v6.logout()])
})

t.test('GET /health answers 200 with the link ready and counts its sessions', async (t) => {
  const prefix = 'lkhl'
  const link = await readyLink(t)
  const app = await buildApp({ link, config: testConfig() })
  t.teardown(async () => await app.close())
  const [c] = await usersOnline(link, prefix, 1)
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok', link: 'ready', sessions: 0, websocketSessions: 0, linkSessions: 1, saturated: false })
  await c!.logout()
})

t.test('a wrong secret is refused with bad-secret, logged on both sides, and no session can open', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const logger = pino({ level: 'info' }, sink)
  const link = newLink(t, { secret: 'not-the-secret', reconnectMinDelayMs: 5_000, reconnectMaxDelayMs: 5_000, logger })
  const [reason] = await new Promise<unknown[]>((resolve) => link.once('denied', (...args) => resolve(args)))
  t.equal(reason, 'bad-secret')
  t.not(link.status, 'ready')
  t.throws(() => link.open({ onLinkFrame () {}, onLinkClose () {} }, '127.0.0.1', 1), { code: ErrorCode.LINK_DOWN })
  await waitFor(async () => (await ej.readLog()).includes('bad-secret'), 10_000, 'ejabberd to log the refusal')
  t.match(await ej.readLog(), /handshake refused: denied bad-secret/, 'ejabberd logs why it refused the link')
  const refused = lines.map((l) => JSON.parse(l)).find((l) => l.msg.includes('refused the link handshake'))
  t.match(refused, { level: 50, reason: 'bad-secret' }, 'Megaphone logs the refusal at error level with the reason')
  t.notMatch(lines.join(''), /not-the-secret/, 'the secret never reaches the log')
})

t.test('writing to a connection ID ejabberd has closed fails with LINK_SESSION_CLOSED', async (t) => {
  const prefix = 'lkwc'
  const link = await readyLink(t)
  const [c] = await usersOnline(link, prefix, 1)
  c!.send(`<close xmlns='${NS_FRAMING}'/>`)
  t.equal(await c!.waitClosed(), 'normal')
  t.throws(() => c!.send('<presence/>'), { code: ErrorCode.LINK_SESSION_CLOSED })
  t.equal(link.status, 'ready', 'the link is unaffected')
})

t.test('opening a session while the link is down fails at once with LINK_DOWN', async (t) => {
  // Nothing listens on port 1 of loopback.
  const link = newLink(t, { port: 1, reconnectMinDelayMs: 60_000 })
  const started = Date.now()
  t.throws(() => new LinkXmppClient(link), { code: ErrorCode.LINK_DOWN })
  t.ok(Date.now() - started < 100, 'no waiting')
})

t.test('a malformed frame from Megaphone resets the link; ejabberd says why and the link comes back', async (t) => {
  const prefix = 'lkmf'
  const { link, proxy } = await proxiedLink(t)
  const [client] = await usersOnline(link, prefix, 1)
  const down = new Promise<string>((resolve) => link.once('down', resolve))
  proxy.injectToServer('00000000x1|00000000000000000001|garbage')
  t.match(await down, /bye malformed-frame bad-length/, 'ejabberd named the fault before closing')
  t.equal(await client!.waitClosed(), 'link-down', 'the session on the link ends')
  await link.waitReady(10_000)
  t.equal(proxy.accepted, 2, 'the link reconnected')
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, 10_000, 'old session to end')
  const [again] = await loginAll(link, [`${prefix}1`])
  t.ok(again, 'sessions open again on the new link')
  await again!.logout()
})

t.test('a malformed frame from ejabberd resets the link and it comes back', async (t) => {
  const { link, proxy } = await proxiedLink(t)
  const down = new Promise<string>((resolve) => link.once('down', resolve))
  proxy.injectToClient('0000000032|0000000000000000000x|')
  t.equal(await down, 'malformed-frame')
  await link.waitReady(10_000)
  t.equal(proxy.accepted, 2)
})

t.test('killing the link drops every session in ejabberd and Megaphone reconnects', async (t) => {
  const prefix = 'lkcut'
  const N = 20
  const { link, proxy } = await proxiedLink(t)
  const clients = await usersOnline(link, prefix, N)
  t.equal(await sessionsWithPrefix(prefix), N)
  proxy.cut()
  const reasons = await Promise.all(clients.map(async (c) => await c.waitClosed()))
  t.same(new Set(reasons), new Set(['link-down']), 'every session is told the link went down')
  t.equal(await waitForSessions(prefix, 0, 15_000), 0, 'no session left registered in ejabberd')
  await link.waitReady(10_000)
  t.equal(link.status, 'ready', 'reconnected')
})

t.test('a silent link is noticed by the heartbeat within seconds (docs/link-protocol.md Heartbeat)', async (t) => {
  const { link, proxy } = await proxiedLink(t, { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 })
  const started = Date.now()
  const down = new Promise<string>((resolve) => link.once('down', resolve))
  proxy.setBlackhole(true)
  t.equal(await down, 'heartbeat-timeout')
  const elapsed = Date.now() - started
  // The last pong may have arrived up to one ping interval (200 ms) before the cut.
  t.ok(elapsed >= 750 && elapsed < 3_000, `noticed after ${elapsed} ms`)
  proxy.setBlackhole(false)
  await link.waitReady(10_000)
})

t.test('one session sending malformed XML ends only that session, with a stream error', async (t) => {
  const prefix = 'lkbad'
  const link = await readyLink(t)
  const [bad, alice, bob] = await usersOnline(link, prefix, 3) as [LinkXmppClient, LinkXmppClient, LinkXmppClient]
  bad.send("<message xmlns='jabber:client' to='x@localhost'><body>unclosed</message>")
  const error = await bad.wait((el) => el.name === 'stream:error', 10_000, 'stream error')
  t.ok(error.getChild('not-well-formed'), 'not-well-formed stream error')
  t.ok(await bad.waitClosed(), 'the bad session is closed')
  t.equal(link.status, 'ready', 'the link stays up')
  alice.send(chat(`${prefix}3@${ej.domain}`, 'still here', 'after'))
  const got = await bob.wait((el) => el.name === 'message' && el.attrs.id === 'after')
  t.equal(got.getChildText('body'), 'still here', 'other sessions keep working')
  await Promise.all([alice.logout(), bob.logout()])
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, 10_000, 'sessions to end')
})

t.test('a crashed session in ejabberd costs only itself: the link and other sessions go on', async (t) => {
  const prefix = 'lkcr'
  const link = await readyLink(t)
  const [victim, alice, bob] = await usersOnline(link, prefix, 3) as [LinkXmppClient, LinkXmppClient, LinkXmppClient]
  await ctl('kill_c2s', `${prefix}1`, ej.domain, 'link')
  t.equal(await victim.waitClosed(), 'shutdown', 'its connection ID is closed with shutdown')
  t.equal(link.status, 'ready', 'the link stays up')
  alice.send(chat(`${prefix}3@${ej.domain}`, 'unaffected', 'cr1'))
  const got = await bob.wait((el) => el.name === 'message' && el.attrs.id === 'cr1')
  t.equal(got.getChildText('body'), 'unaffected')
  await Promise.all([alice.logout(), bob.logout()])
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, 10_000, 'sessions to end')
})

t.test('a stream restart reopens the stream on the same connection ID (RFC 7395 3.3.3)', async (t) => {
  const prefix = 'lkrs'
  await registerUsers(prefix, 1, PASSWORD)
  const link = await readyLink(t)
  const c = new LinkXmppClient(link)
  const jid = await c.login(`${prefix}1`, PASSWORD, ej.domain, 'restart')
  t.equal(jid, `${prefix}1@${ej.domain}/restart`)
  c.send('<iq xmlns=\'jabber:client\' type=\'get\' id=\'ping1\'><ping xmlns=\'urn:xmpp:ping\'/></iq>')
  const pong = await c.wait((el) => el.name === 'iq' && el.attrs.id === 'ping1')
  t.equal(pong.attrs.type, 'result')
  c.send(`<close xmlns='${NS_FRAMING}'/>`)
  await c.wait((el) => el.is('close', NS_FRAMING))
  t.equal(await c.waitClosed(), 'normal', 'ejabberd closes the connection ID after the stream ends')
})

t.test('when the link write buffer fills, send reports it and drain follows (backpressure)', async (t) => {
  const prefix = 'lkbp'
  const N = 32
  const { link, proxy } = await proxiedLink(t, { writeHighWaterMarkBytes: 64 * 1024, maxWriteBufferBytes: 1 << 20, heartbeatTimeoutMs: 60_000 })
  const clients = await usersOnline(link, prefix, N)
  proxy.pauseClientReads()
  const saturated = new Promise<void>((resolve) => link.once('saturated', resolve))
  // Spread over many sessions: each stays far below the listener's per-session
  // input bound, while together they overfill the kernel's socket buffers.
  const filler = 'x'.repeat(16 * 1024)
  let sent = 0
  let accepted = true
  // Headline messages to a user that does not exist are dropped by ejabberd (RFC 6121 8.5.2.2.1).
  for (let round = 0; round < 30 && accepted; round++) {
    for (const c of clients) {
      sent++
      accepted = c.send(`<message xmlns='jabber:client' type='headline' to='${prefix}-nobody@${ej.domain}'><body>${filler}</body></message>`)
      if (!accepted) break
    }
  }
  t.notOk(accepted, `send returned false after ${sent} frames of 16 KiB`)
  await saturated
  t.ok(link.saturated, 'the link reports saturation')
  // A caller that ignores saturation meets the hard bound, not unbounded buffering.
  t.throws(() => {
    for (let i = 0; i < 200; i++) clients[i % N]!.send(`<presence xmlns='jabber:client' type='unavailable'><status>${filler}</status></presence>`)
  }, { code: ErrorCode.LINK_SATURATED }, 'sending past the bound fails with LINK_SATURATED')
  const drained = new Promise<void>((resolve) => link.once('drain', resolve))
  proxy.resumeClientReads()
  await drained
  t.notOk(link.saturated, 'drained')
  await Promise.all(clients.map(async (c, i) => {
    c.send(`<iq xmlns='jabber:client' type='get' id='bp${i}'><ping xmlns='urn:xmpp:ping'/></iq>`)
    const pong = await c.wait((el) => el.name === 'iq' && el.attrs.id === `bp${i}`, 30_000, 'ping result')
    t.equal(pong.attrs.type, 'result', `session ${i} still works after the backlog drained`)
  }))
  await Promise.all(clients.map(async (c) => await c.logout()))
})
