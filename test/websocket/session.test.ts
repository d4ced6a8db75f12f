// The WebSocket session state machine (RFC 7395) with a fake peer, a fake
// clock and a recording link: open, restart, close both ways, every refusal,
// pings, slow clients, backpressure, the link's end and shutdown.
import t from 'tap'
import { WsEndpoint } from '../../lib/websocket/endpoint.js'
import { WS_GOING_AWAY, WS_INTERNAL_ERROR, WS_NORMAL, type WsPeer } from '../../lib/websocket/session.js'
import { STREAM_CLOSE_TIMEOUT_MS } from '../../lib/bosh/constants.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { RecordingUpstream } from '../helpers/recording-upstream.js'

const silent = { debug () {}, info () {}, warn () {}, error () {} }
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
const OPEN = `<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`
const CLOSE = `<close xmlns='${FRAMING}'/>`
const SERVER_OPEN = `<open xmlns='${FRAMING}' from='localhost' id='s1' version='1.0' xml:lang='en'/>`

class FakePeer implements WsPeer {
  sent: string[] = []
  closed: number | null = null
  terminated = false
  paused = false
  pings = 0
  bufferedAmount = 0
  send (data: string | Buffer, options: { binary: boolean }): void {
    if (options.binary) throw new Error('binary message sent')
    this.sent.push(data.toString())
  }

  close (code: number): void { this.closed ??= code }
  terminate (): void { this.terminated = true }
  pause (): void { this.paused = true }
  resume (): void { this.paused = false }
  ping (): void { this.pings++ }
}

function setup (opts: { pingIntervalSeconds?: number, seeOtherUri?: string | null, maxBufferedBytes?: number, whenWritable?: () => Promise<void> | null } = {}) {
  const clock = new FakeClock()
  const up = new RecordingUpstream()
  const endpoint = new WsEndpoint({
    upstream: up,
    log: silent,
    clock,
    domains: ['localhost'],
    maxMessageBytes: 4096,
    maxBufferedBytes: opts.maxBufferedBytes ?? 65536,
    pingIntervalSeconds: opts.pingIntervalSeconds ?? 30,
    seeOtherUri: opts.seeOtherUri ?? null,
    whenWritable: opts.whenWritable
  })
  const peer = new FakePeer()
  const session = endpoint.accept(peer, '192.0.2.7', 4321)
  const msg = (text: string): void => { session.onMessage(Buffer.from(text), false) }
  return { clock, up, endpoint, peer, session, msg }
}

/** A session whose stream ejabberd has opened. */
function opened () {
  const s = setup()
  s.msg(OPEN)
  s.up.deliver(1, SERVER_OPEN)
  return s
}

t.test('the first <open/> opens a connection ID with the client\'s address and goes to ejabberd as it is (RFC 7395 3.4)', async (t) => {
  const { up, peer, session, msg } = setup()
  t.equal(up.sessions.size, 0, 'nothing opened on the link before <open/>')
  msg(OPEN)
  t.equal(session.connectionId, 1)
  t.same(up.sent, [[1, OPEN]])
  up.deliver(1, SERVER_OPEN)
  up.deliver(1, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>")
  t.same(peer.sent, [SERVER_OPEN, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>"], 'one WebSocket message per element, as text')
})

t.test('stanzas and a restart <open/> go through in order; the domain is matched without case', async (t) => {
  const { up, msg } = opened()
  msg("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
  msg(`<open xmlns='${FRAMING}' to='LocalHost' version='1.0'/>`)
  msg('<iq type="get" id="1"><query xmlns="jabber:iq:roster"/></iq>')
  t.equal(up.sent.length, 4)
  t.match(up.sent[3]?.[1], /^<iq /)
})

t.test('every refusal: stream error, <close/>, WebSocket close, and the connection ID ends', async (t) => {
  const cases: Array<[string, (s: ReturnType<typeof setup>) => void, string]> = [
    ['binary message', (s) => { s.session.onMessage(Buffer.from(OPEN), true) }, 'unsupported-encoding'],
    ['not UTF-8', (s) => { s.session.onMessage(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]), false) }, 'unsupported-encoding'],
    ['over the size limit', (s) => { s.msg(`<message><body>${'x'.repeat(5000)}</body></message>`) }, 'policy-violation'],
    ['not well-formed', (s) => { s.msg('<message><body>') }, 'not-well-formed'],
    ['two elements in one message', (s) => { s.msg('<presence/><presence/>') }, 'not-well-formed'],
    ['a DOCTYPE', (s) => { s.msg('<!DOCTYPE x [<!ENTITY a "b">]><presence/>') }, 'restricted-xml'],
    ['a domain not served', (s) => { s.msg(`<open xmlns='${FRAMING}' to='elsewhere.example' version='1.0'/>`) }, 'host-unknown']
  ]
  for (const [name, act, condition] of cases) {
    for (const when of ['before the stream', 'in the stream'] as const) {
      const s = when === 'before the stream' ? setup() : opened()
      act(s)
      const last = s.peer.sent.slice(-2)
      t.match(last[0], new RegExp(`^<stream:error xmlns:stream='http://etherx.jabber.org/streams'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>$`), `${name}, ${when}: ${condition}`)
      t.equal(last[1], CLOSE)
      t.equal(s.peer.closed, WS_NORMAL)
      if (when === 'before the stream') {
        t.match(s.peer.sent[0], /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='[0-9a-f]{16}' version='1.0'/, 'a stream header first (RFC 6120 4.9.1.2)')
        t.equal(s.up.sessions.size, 0, 'nothing left open on the link')
      } else {
        t.same([s.up.ended, s.up.endReasons], [[1], ['error']], 'the connection ID ends')
        t.equal(s.up.sent.length, 1, 'the refused message never reached ejabberd')
      }
      t.equal(s.endpoint.size, 0)
      s.msg('<presence/>')
      t.equal(s.peer.sent.length, when === 'before the stream' ? 3 : 3, 'nothing after the end')
    }
  }
})

t.test('a first message that is not <open/> gets invalid-namespace', async (t) => {
  const { peer, up, msg } = setup()
  msg('<presence/>')
  t.match(peer.sent[1], /<invalid-namespace /)
  t.equal(up.sessions.size, 0)
})

t.test('a <close/> before any <open/> is answered with <close/>', async (t) => {
  const { peer, msg, endpoint } = setup()
  msg(CLOSE)
  t.same(peer.sent, [CLOSE])
  t.equal(peer.closed, WS_NORMAL)
  t.equal(endpoint.ended.get('normal'), 1)
})

t.test('client <close/>: forwarded; ejabberd\'s <close/> and end close the WebSocket (RFC 7395 3.6)', async (t) => {
  const { up, peer, msg, session, endpoint } = opened()
  msg(CLOSE)
  t.same(up.sent.at(-1), [1, CLOSE])
  msg('<presence/>')
  t.equal(up.sent.length, 2, 'nothing taken after the client\'s <close/>')
  up.deliver(1, CLOSE)
  up.closeFromEjabberd(1, 'normal')
  t.equal(peer.sent.at(-1), CLOSE)
  t.equal(peer.closed, WS_NORMAL)
  session.onPeerClose()
  t.same(up.ended, [], 'ejabberd ended the ID itself')
  t.equal(endpoint.ended.get('normal'), 1)
})

t.test('client <close/> that ejabberd does not answer: Megaphone closes after the grace', async (t) => {
  const { up, peer, msg, clock } = opened()
  msg(CLOSE)
  clock.advance(STREAM_CLOSE_TIMEOUT_MS - 1)
  t.equal(peer.closed, null)
  clock.advance(1)
  t.equal(peer.sent.at(-1), CLOSE)
  t.equal(peer.closed, WS_NORMAL)
  t.same([up.ended, up.endReasons], [[1], ['timeout']])
})

t.test('ejabberd closes first: its <close/> and end reach the client, the WebSocket closes', async (t) => {
  const { up, peer } = opened()
  up.deliver(1, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
  up.deliver(1, CLOSE)
  up.closeFromEjabberd(1, 'stream-error')
  t.match(peer.sent.at(-2), /<conflict /)
  t.equal(peer.closed, WS_NORMAL)
})

t.test('a WebSocket that drops without <close/> ends the ID as a lost network, so XEP-0198 can resume', async (t) => {
  const { up, session, endpoint } = opened()
  session.onPeerClose()
  t.same([up.ended, up.endReasons], [[1], ['timeout']])
  t.equal(endpoint.ended.get('client-gone'), 1)
  t.equal(endpoint.size, 0)
})

t.test('pings: a client that answers stays; one silent for a whole interval is dropped as a lost network', async (t) => {
  const { up, peer, clock, session, endpoint } = opened()
  clock.advance(30_000)
  t.equal(peer.pings, 1)
  session.onPong()
  clock.advance(30_000)
  t.equal(peer.pings, 2, 'answered: pinged again')
  t.notOk(peer.terminated)
  clock.advance(30_000)
  t.ok(peer.terminated, 'no pong for a whole interval: dropped')
  t.same([up.ended, up.endReasons], [[1], ['timeout']])
  t.equal(endpoint.ended.get('ping-timeout'), 1)
  t.equal(clock.pending, 0, 'no timer left once no session is')
})

t.test('a client that does not read is cut off past maxBufferedBytes', async (t) => {
  const s = setup({ maxBufferedBytes: 100 })
  s.msg(OPEN)
  s.up.deliver(1, SERVER_OPEN)
  s.peer.bufferedAmount = 101
  s.up.deliver(1, '<message/>')
  t.ok(s.peer.terminated)
  t.same([s.up.ended, s.up.endReasons], [[1], ['timeout']])
  t.equal(s.endpoint.ended.get('slow-client'), 1)
})

t.test('backpressure: a saturated link pauses reading the client until it drains', async (t) => {
  let release = (): void => {}
  const drained = new Promise<void>((resolve) => { release = resolve })
  const s = setup({ whenWritable: () => drained })
  s.msg(OPEN)
  t.notOk(s.peer.paused, 'not saturated: reading goes on')
  s.up.saturated = true
  s.msg('<presence/>')
  t.ok(s.peer.paused, 'paused once the link says it is saturated')
  release()
  await drained
  await Promise.resolve()
  t.notOk(s.peer.paused, 'resumed when it drains')
})

t.test('the link going down drops the WebSocket without a stream error, so the client reconnects and resumes', async (t) => {
  const { up, peer } = opened()
  up.closeFromEjabberd(1, 'link-down')
  t.equal(peer.sent.length, 1, 'only the header went out')
  t.equal(peer.closed, WS_INTERNAL_ERROR)
})

t.test('an <open/> while the link is down gets remote-connection-failed', async (t) => {
  const s = setup()
  s.up.down = true
  s.msg(OPEN)
  t.match(s.peer.sent[1], /<remote-connection-failed /)
  t.equal(s.peer.closed, WS_INTERNAL_ERROR)
})

t.test('ejabberd failing a session gets internal-server-error or remote-connection-failed', async (t) => {
  const a = opened()
  a.up.closeFromEjabberd(1, 'shutdown')
  t.equal(a.peer.closed, WS_INTERNAL_ERROR)
  const b = setup()
  b.msg(OPEN)
  b.up.closeFromEjabberd(1, 'open-failed')
  t.match(b.peer.sent.join(''), /^<open .*<remote-connection-failed .*<close /)
})

t.test('shutdown: system-shutdown, or see-other-uri when configured (RFC 7395 3.6.1); new connections refused', async (t) => {
  const a = opened()
  a.endpoint.shutdown()
  t.match(a.peer.sent.at(-2), /<system-shutdown /)
  t.equal(a.peer.closed, WS_GOING_AWAY)
  t.same([a.up.ended, a.up.endReasons], [[1], ['shutdown']])
  t.notOk(a.endpoint.accepting)
  const b = setup({ seeOtherUri: 'wss://other.example/xmpp-websocket' })
  b.msg(OPEN)
  b.endpoint.shutdown()
  t.same(b.peer.sent.at(-1), `<close xmlns='${FRAMING}' see-other-uri='wss://other.example/xmpp-websocket'/>`)
  t.equal(b.peer.closed, WS_GOING_AWAY)
})
