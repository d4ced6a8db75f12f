// XMPP over WebSocket (RFC 7395) through Megaphone to the real ejabberd, with
// a raw client (test/helpers/ws-xmpp.ts), section by section: the handshake
// and its subprotocol, the stream (open, SASL, restart, bind), <close/> from
// either side, every refusal, Origin, pings, and a client that stops reading.
import t from 'tap'
import { request } from 'undici'
import { startMegaphone } from '../helpers/megaphone.js'
import { ctl, registerUsers, sessionsWithPrefix, testEjabberd, waitFor, waitForSessions } from '../helpers/ejabberd.js'
import { CLOSE, FRAMING, WsClient, openElement, type Refused } from '../helpers/ws-xmpp.js'

const PASSWORD = 'secret-pw'
const ej = testEjabberd()
const STREAM_ERROR = (condition: string): RegExp =>
  new RegExp(`^<stream:error xmlns:stream='http://etherx.jabber.org/streams'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>$`)

async function refusal (p: Promise<unknown>): Promise<Refused> {
  try {
    await p
  } catch (err) {
    return err as Refused
  }
  throw new Error('the upgrade was accepted')
}

/** A message from `from` reaches `to` (a logged-in client) within the bound. */
async function delivered (from: WsClient, to: WsClient, toJid: string, text: string): Promise<void> {
  from.send(`<message to='${toJid}' type='chat'><body>${text}</body></message>`)
  await to.until(new RegExp(`<body>${text}</body>`))
}

t.test('3.1 handshake: the xmpp subprotocol is negotiated, and required', async (t) => {
  const mp = await startMegaphone(t)
  const c = await WsClient.connect(mp.websocketUrl)
  t.equal(c.ws.protocol, 'xmpp', 'the server selects xmpp')
  c.ws.close()
  const none = await refusal(WsClient.connect(mp.websocketUrl, { protocols: [] }))
  t.equal(none.status, 400, 'no subprotocol: 400')
  t.match(none.body, /RFC 7395 3\.1/)
  const other = await refusal(WsClient.connect(mp.websocketUrl, { protocols: ['mqtt'] }))
  t.equal(other.status, 400, 'another subprotocol only: 400')
  const elsewhere = await refusal(WsClient.connect(mp.baseUrl.replace(/^http/, 'ws') + '/nowhere'))
  t.equal(elsewhere.status, 404, 'another path: 404')
  const plain = await request(mp.baseUrl + mp.config.websocket.path)
  t.equal(plain.statusCode, 426, 'a plain GET: 426 Upgrade Required')
  t.equal(plain.headers.upgrade, 'websocket')
  await plain.body.text()
  const slash = await WsClient.connect(mp.websocketUrl + '/')
  t.equal(slash.ws.protocol, 'xmpp', 'the path with a trailing slash works too')
  slash.ws.close()
})

t.test('3.3-3.5: open, features, SASL, restart, bind and a message, one element per message; <close/> from the client (3.6)', async (t) => {
  const [a, b] = await registerUsers('wsa', 2, PASSWORD)
  const mp = await startMegaphone(t)
  const ca = await WsClient.connect(mp.websocketUrl)
  ca.send(openElement())
  const header = await ca.next()
  t.match(header, new RegExp(`^<open xmlns='${FRAMING}' [^>]*from='${ej.domain}'[^>]*/>$`), 'ejabberd\'s <open/> as the stream header (3.4)')
  t.match(header, /version='1.0'/)
  t.match(await ca.next(), /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'>.*<mechanisms /, 'then its features, in a message of their own')
  ca.ws.close()
  await ca.closeCode()

  const c1 = await WsClient.connect(mp.websocketUrl)
  const jid1 = await c1.login(a as string, PASSWORD)
  t.equal(jid1, `${a as string}@${ej.domain}/ws`)
  const c2 = await WsClient.connect(mp.websocketUrl)
  const jid2 = await c2.login(b as string, PASSWORD)
  t.equal(await sessionsWithPrefix('wsa'), 2, 'ejabberd holds both sessions')
  t.equal(mp.app.websocket.size, 2)
  await delivered(c1, c2, jid2, 'hello over websocket')
  await delivered(c2, c1, jid1, 'and back')
  t.ok(c1.received.every((m) => !m.includes('><message') || m.startsWith('<message')), 'every message holds one element')

  c1.send(CLOSE)
  t.equal(await c1.until(/^<close /), `<close xmlns='${FRAMING}'/>`, 'ejabberd answers <close/> (3.6)')
  t.equal(await c1.closeCode(), 1000, 'and the WebSocket closes normally')
  t.equal(await waitForSessions('wsa', 1), 1, 'that session is gone from ejabberd')
  await delivered(c2, c2, jid2, 'the other session goes on')
  c2.send(CLOSE)
  await c2.closeCode()
  t.equal(await waitForSessions('wsa', 0), 0)
  await waitFor(() => mp.link.sessionCount === 0 && mp.app.websocket.size === 0, 5_000, 'Megaphone to forget both')
})

t.test('3.6 <close/> from the server: a stream error from ejabberd, its <close/>, then the WebSocket closes', async (t) => {
  const [u] = await registerUsers('wsb', 1, PASSWORD)
  const mp = await startMegaphone(t)
  const first = await WsClient.connect(mp.websocketUrl)
  await first.login(u as string, PASSWORD, 'same')
  const second = await WsClient.connect(mp.websocketUrl)
  await second.login(u as string, PASSWORD, 'same')
  t.match(await first.until(/^<stream:error/), /<conflict /, 'the older session gets conflict (RFC 6120 4.9.3.3)')
  t.equal(await first.next(), `<close xmlns='${FRAMING}'/>`)
  t.equal(await first.closeCode(), 1000)
  second.send(CLOSE)
  await second.closeCode()
})

t.test('refusals: each gets its stream error, <close/> and a close, and a chat beside it never notices', async (t) => {
  const users = await registerUsers('wsc', 3, PASSWORD)
  const mp = await startMegaphone(t, { env: { MEGAPHONE_WEBSOCKET_MAX_MESSAGE_BYTES: '4096' } })
  const alice = await WsClient.connect(mp.websocketUrl)
  const aliceJid = await alice.login(users[0] as string, PASSWORD)
  const bob = await WsClient.connect(mp.websocketUrl)
  const bobJid = await bob.login(users[1] as string, PASSWORD)

  const cases: Array<[string, (c: WsClient) => void, string]> = [
    ['a binary message (3.2)', (c) => { c.send(Buffer.from('<presence/>'), true) }, 'unsupported-encoding'],
    ['bytes that are not UTF-8 (3.2)', (c) => { c.ws.send(Buffer.from([0x3c, 0x61, 0xc3, 0x28, 0x2f, 0x3e]), { binary: false }) }, 'unsupported-encoding'],
    ['a message that is not well-formed (3.3.3)', (c) => { c.send('<message><body>half') }, 'not-well-formed'],
    ['two elements in one message (3.3.3)', (c) => { c.send('<presence/><presence/>') }, 'not-well-formed'],
    ['a DOCTYPE', (c) => { c.send('<!DOCTYPE m [<!ENTITY e "x">]><message/>') }, 'restricted-xml'],
    ['a message over the limit', (c) => { c.send(`<message><body>${'x'.repeat(5000)}</body></message>`) }, 'policy-violation'],
    ['a restart to a domain not served', (c) => { c.send(openElement('elsewhere.example')) }, 'host-unknown']
  ]
  let n = 0
  for (const [name, misbehave, condition] of cases) {
    const c = await WsClient.connect(mp.websocketUrl)
    await c.login(users[2] as string, PASSWORD)
    misbehave(c)
    t.match(await c.until(/^<stream:error/), STREAM_ERROR(condition), `${name}: ${condition}`)
    t.equal(await c.next(), CLOSE, `${name}: then <close/>`)
    t.equal(await c.closeCode(), 1000, `${name}: then the WebSocket closes`)
    t.equal(await waitForSessions(`${users[2] as string}`, 0), 0, `${name}: the session is gone from ejabberd`)
    await delivered(alice, bob, bobJid, `still here ${++n}`)
  }

  const early = await WsClient.connect(mp.websocketUrl)
  early.send(openElement('elsewhere.example'))
  t.match(await early.next(), /^<open /, 'before any stream, Megaphone sends a header of its own first (RFC 6120 4.9.1.2)')
  t.match(await early.next(), STREAM_ERROR('host-unknown'), 'a domain not served: host-unknown, never an open proxy')
  await early.closeCode()

  const huge = await WsClient.connect(mp.websocketUrl)
  huge.send('x'.repeat(3 * 4096))
  t.equal(await huge.closeCode(), 1009, 'far over the limit: ws stops at the frame header with 1009')

  await delivered(bob, alice, aliceJid, 'the chat never noticed')
  t.equal(await sessionsWithPrefix('wsc'), 2, 'only the two chatting sessions are left')
  alice.send(CLOSE)
  bob.send(CLOSE)
  await Promise.all([alice.closeCode(), bob.closeCode()])
})

t.test('Origin: a browser page from an origin not allowed is refused; allowed origins and non-browsers connect', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_CORS_ORIGINS: 'https://chat.example.com' } })
  const evil = await refusal(WsClient.connect(mp.websocketUrl, { origin: 'https://evil.example' }))
  t.equal(evil.status, 403, 'cross-site WebSocket hijacking refused')
  const good = await WsClient.connect(mp.websocketUrl, { origin: 'https://chat.example.com' })
  t.equal(good.ws.protocol, 'xmpp', 'the allowed origin connects')
  good.ws.close()
  const none = await WsClient.connect(mp.websocketUrl)
  t.equal(none.ws.protocol, 'xmpp', 'no Origin (not a browser) connects')
  none.ws.close()
})

t.test('the browser\'s address reaches ejabberd: the socket\'s, or X-Forwarded-For behind a trusted proxy', async (t) => {
  const [u, v] = await registerUsers('wsh', 2, PASSWORD)
  const direct = await startMegaphone(t)
  const c1 = await WsClient.connect(direct.websocketUrl, { headers: { 'x-forwarded-for': '203.0.113.9' } })
  await c1.login(u as string, PASSWORD, 'direct')
  t.match(await ctl('user_ip', u as string, ej.domain, 'direct'), { ip: '127.0.0.1' }, 'untrusted: X-Forwarded-For ignored')
  const proxied = await startMegaphone(t, { env: { MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  const c2 = await WsClient.connect(proxied.websocketUrl, { headers: { 'x-forwarded-for': '203.0.113.9' } })
  await c2.login(v as string, PASSWORD, 'proxied')
  t.match(await ctl('user_ip', v as string, ej.domain, 'proxied'), { ip: '203.0.113.9' }, 'behind a trusted proxy: the forwarded address')
  c1.send(CLOSE)
  c2.send(CLOSE)
  await Promise.all([c1.closeCode(), c2.closeCode()])
})

t.test('permessage-deflate (RFC 7692) is off unless configured', async (t) => {
  const off = await startMegaphone(t)
  const a = await WsClient.connect(off.websocketUrl, { perMessageDeflate: true })
  t.equal(a.ws.extensions, '', 'offered by the client, not accepted by default')
  a.ws.close()
  const on = await startMegaphone(t, { env: { MEGAPHONE_WEBSOCKET_PER_MESSAGE_DEFLATE: 'true' } })
  const b = await WsClient.connect(on.websocketUrl, { perMessageDeflate: true })
  t.match(b.ws.extensions, /permessage-deflate/, 'accepted when turned on')
  b.send(openElement())
  t.match(await b.next(), /^<open /, 'and the stream works compressed')
  b.ws.close()
})

t.test('pings: a client that stops answering is dropped, its session ended as a lost network', async (t) => {
  const [u, v] = await registerUsers('wsd', 2, PASSWORD)
  const mp = await startMegaphone(t, { env: { MEGAPHONE_WEBSOCKET_PING_INTERVAL_SECONDS: '1' } })
  const alive = await WsClient.connect(mp.websocketUrl)
  await alive.login(v as string, PASSWORD)
  const dead = await WsClient.connect(mp.websocketUrl, { autoPong: false })
  await dead.login(u as string, PASSWORD)
  const started = Date.now()
  t.equal(await dead.closeCode(5_000), 1006, 'dropped without a closing handshake')
  t.comment(`dropped after ${Date.now() - started} ms`)
  t.equal(await waitForSessions(u as string, 0), 0, 'its ejabberd session ended')
  t.equal(mp.app.websocket.ended.get('ping-timeout'), 1)
  t.equal(alive.ws.readyState, alive.ws.OPEN, 'a client that answers stays')
  alive.send(CLOSE)
  await alive.closeCode()
})

t.test('a client that stops reading is cut off past the buffer bound; the sender goes on', async (t) => {
  const [slowUser, sender] = await registerUsers('wse', 2, PASSWORD)
  const mp = await startMegaphone(t, { env: { MEGAPHONE_WEBSOCKET_MAX_BUFFERED_BYTES: '16384' } })
  const slow = await WsClient.connect(mp.websocketUrl)
  const slowJid = await slow.login(slowUser as string, PASSWORD)
  const flood = await WsClient.connect(mp.websocketUrl)
  const floodJid = await flood.login(sender as string, PASSWORD)
  // Stop reading: the kernel's buffers fill, then Megaphone's.
  ;(slow.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
  // 30 KB messages, 20 at a time, each batch followed by a ping to ejabberd:
  // its answer means the sender's c2s has taken the batch, so the sender stays
  // under the listener's bound on held input (docs/link-protocol.md "Flow control").
  const body = 'y'.repeat(30_000)
  for (let batch = 0; batch < 50 && mp.app.websocket.ended.get('slow-client') === undefined; batch++) {
    for (let i = 0; i < 20; i++) flood.send(`<message to='${slowJid}' type='chat'><body>${batch}.${i} ${body}</body></message>`)
    flood.send(`<iq type='get' id='ping${batch}' to='${ej.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`)
    await flood.until(new RegExp(`id='ping${batch}'`))
  }
  await waitFor(() => mp.app.websocket.ended.get('slow-client') === 1, 15_000, 'the slow client to be cut off')
  t.equal(mp.app.websocket.ended.get('slow-client'), 1, 'cut off, not buffered without bound')
  t.equal(await waitForSessions(slowUser as string, 0), 0, 'its ejabberd session ended')
  await delivered(flood, flood, floodJid, 'the sender goes on')
  flood.send(CLOSE)
  await flood.closeCode()
})

t.test('/health and /metrics count WebSocket sessions', async (t) => {
  const [u] = await registerUsers('wsf', 1, PASSWORD)
  const mp = await startMegaphone(t)
  const c = await WsClient.connect(mp.websocketUrl)
  await c.login(u as string, PASSWORD)
  const health = await request(mp.baseUrl + '/health')
  t.match(await health.body.json(), { websocketSessions: 1 })
  const metrics = await (await request(mp.baseUrl + '/metrics')).body.text()
  t.match(metrics, /^megaphone_websocket_sessions 1$/m)
  t.match(metrics, /^megaphone_websocket_sessions_created_total 1$/m)
  c.send(CLOSE)
  await c.closeCode()
})

t.test('shutdown: every WebSocket gets system-shutdown and a going-away close', async (t) => {
  const [u] = await registerUsers('wsg', 1, PASSWORD)
  const mp = await startMegaphone(t)
  const c = await WsClient.connect(mp.websocketUrl)
  await c.login(u as string, PASSWORD)
  await mp.app.close()
  t.match(await c.until(/^<stream:error/), STREAM_ERROR('system-shutdown'))
  t.equal(await c.next(), CLOSE)
  t.equal(await c.closeCode(), 1001)
})
