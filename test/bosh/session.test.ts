// The BOSH session state machine with a fake clock and a recording upstream
// in place of the link: hold and wait, the rid window, out-of-order requests,
// retransmission, acks, inactivity, pause, restart and terminate.
import t from 'tap'
import { createHash } from 'node:crypto'
import { Registry, type BoshLimits } from '../../lib/bosh/registry.js'
import { MISSING_RID_GRACE_MS, TERMINATE_GAP_GRACE_MS } from '../../lib/bosh/constants.js'
import { parseRequestBody } from '../../lib/bosh/body.js'
import { BoshError } from '../../lib/errors.js'
import { parseElement, type Element } from '../../lib/xml.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { RecordingUpstream } from '../helpers/recording-upstream.js'
import { body } from '../helpers/bosh-http.js'

const silent = { debug () {}, info () {}, warn () {}, error () {} }
const FEATURES = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
const OPEN = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='stream-1' version='1.0'/>"

const LIMITS: BoshLimits = {
  domains: ['localhost'], maxWaitSeconds: 60, maxHold: 2, inactivitySeconds: 30, maxPauseSeconds: 120, pollingSeconds: 2, maxSessions: 10, ridSlack: 2, strictRequests: false
}

function setup (limits: Partial<BoshLimits> = {}): { clock: FakeClock, up: RecordingUpstream, registry: Registry } {
  const clock = new FakeClock()
  const up = new RecordingUpstream()
  const registry = new Registry({ ...LIMITS, ...limits, upstream: up, log: silent, clock, defer: (fn) => fn() })
  return { clock, up, registry }
}

/** A request whose answer is captured; `answers` grows as it is answered. */
class Call {
  answers: string[] = []
  respond = (xml: string): void => { this.answers.push(xml) }
  get answered (): boolean { return this.answers.length > 0 }
  get el (): Element {
    if (this.answers.length !== 1) throw new Error(`answered ${this.answers.length} times`)
    return parseElement(this.answers[0] as string)
  }
}

function send (registry: Registry, attrs: Record<string, string | number | undefined>, payload = ''): Call {
  const call = new Call()
  try {
    registry.handle(parseRequestBody(body(attrs, payload)), call.respond, '192.0.2.1', 1234)
  } catch (err) {
    if (!(err instanceof BoshError)) throw err
    call.respond(`<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='${err.condition}'/>`)
  }
  return call
}

/** A session created with rid 100 and ejabberd's answer; returns its sid and connection ID. */
function created (registry: Registry, up: RecordingUpstream, attrs: Record<string, string | number> = {}): { sid: string, id: number, el: Element } {
  const call = send(registry, { rid: 100, to: 'localhost', wait: 20, hold: 1, ver: '1.6', 'xmpp:version': '1.0', ...attrs })
  const id = [...up.sessions.keys()].at(-1) as number
  up.deliver(id, OPEN)
  up.deliver(id, FEATURES)
  return { sid: call.el.attrs.sid, id, el: call.el }
}

t.test('session creation response carries the negotiated attributes and the stream features (XEP-0124 7.2, XEP-0206 3)', async (t) => {
  const { up, registry } = setup()
  const call = send(registry, { rid: 100, to: 'localhost', 'xml:lang': 'de', wait: 90, hold: 5, ver: '1.6', 'xmpp:version': '1.0', ack: 1, route: 'xmpp:evil.example:5222', from: 'someone@evil.example', charsets: 'ISO_8859-1' })
  t.notOk(call.answered, 'not answered before ejabberd opened the stream')
  t.same(up.contents(1), ["<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0' xml:lang='de'/>"], 'stream opened for the domain; route, from and charsets ignored')
  up.deliver(1, OPEN)
  t.notOk(call.answered, 'still waiting for the features')
  up.deliver(1, FEATURES)
  const el = call.el
  t.match(el.attrs.sid, /^[0-9a-f]{32}$/, '128-bit sid')
  t.equal(el.attrs.wait, '60', 'wait capped at the configured maximum')
  t.equal(el.attrs.hold, '2', 'hold capped at the configured maximum')
  t.equal(el.attrs.requests, '3', 'requests = hold + 1')
  t.equal(el.attrs.inactivity, '30')
  t.equal(el.attrs.polling, '2')
  t.equal(el.attrs.ver, '1.6', 'the lower of the two versions')
  t.equal(el.attrs.accept, 'gzip deflate', 'XEP-0124 7.2: the request codings Megaphone decompresses, space-separated')
  t.equal(el.attrs.from, 'localhost')
  t.equal(el.attrs.authid, 'stream-1', 'authid is the stream id')
  t.equal(el.attrs['xmpp:version'], '1.0')
  t.equal(el.attrs['xmpp:restartlogic'], 'true')
  t.equal(el.attrs.ack, '100', 'ack is the creation rid when the client asked for acks')
  t.ok(el.getChild('features'), 'features in the creation response')
})

t.test('sids are 128 random bits, after this process\'s instance tag when it has one', async (t) => {
  const { up, registry } = setup()
  t.match(created(registry, up).sid, /^[0-9a-f]{32}$/)
  const clock = new FakeClock()
  const tagged = new Registry({ ...LIMITS, instance: 'h1w2', upstream: up, log: silent, clock, defer: (fn) => fn() })
  const a = created(tagged, up).sid
  const b = created(tagged, up).sid
  t.match(a, /^h1w2-[0-9a-f]{32}$/, 'the tag, a dash, then the random part')
  t.not(a, b)
})

t.test('creation for a domain not served gets host-unknown and opens nothing (XEP-0124 17.2)', async (t) => {
  const { up, registry } = setup()
  t.equal(send(registry, { rid: 1, to: 'elsewhere.example', wait: 10, hold: 1 }).el.attrs.condition, 'host-unknown')
  t.equal(up.sessions.size, 0)
  t.equal(registry.size, 0)
})

t.test('creation while the link is down gets remote-connection-failed (XEP-0124 17.2)', async (t) => {
  const { up, registry } = setup()
  up.down = true
  t.equal(send(registry, { rid: 1, to: 'localhost', wait: 10, hold: 1 }).el.attrs.condition, 'remote-connection-failed')
  t.equal(registry.size, 0)
})

t.test('creation with no stream from ejabberd in time ends with remote-connection-failed', async (t) => {
  const { up, clock, registry } = setup()
  const call = send(registry, { rid: 1, to: 'localhost', wait: 10, hold: 1 })
  clock.advance(15_000)
  t.equal(call.el.attrs.condition, 'remote-connection-failed')
  t.same(up.ended, [1])
  t.equal(registry.size, 0)
})

t.test('a held request is answered empty at wait, and a new one releases the oldest at once (XEP-0124 8)', async (t) => {
  const { clock, up, registry } = setup()
  const { sid } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  t.notOk(a.answered, 'held (hold=1)')
  clock.advance(19_999)
  t.notOk(a.answered)
  clock.advance(1)
  t.equal(a.answers[0], "<body xmlns='http://jabber.org/protocol/httpbind'/>", 'empty body at wait')
  const b = send(registry, { rid: 102, sid })
  const c = send(registry, { rid: 103, sid })
  t.ok(b.answered, 'oldest released when a second request arrives')
  t.notOk(c.answered, 'newest held')
})

t.test('data from ejabberd goes out in the held request at once, not at wait (XEP-0124 8)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  up.deliver(id, "<message xmlns='jabber:client' from='b@localhost'><body>hi</body></message>")
  t.equal(a.el.getChild('message')?.getChildText('body'), 'hi')
})

t.test('data with no request held waits for the next request (nothing lost)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.deliver(id, "<message xmlns='jabber:client'><body>1</body></message>")
  up.deliver(id, "<message xmlns='jabber:client'><body>2</body></message>")
  const a = send(registry, { rid: 101, sid })
  t.same(a.el.getChildren('message').map((m) => m.getChildText('body')), ['1', '2'])
})

t.test('requests out of rid order are forwarded in rid order and answered in rid order (XEP-0124 14.2)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const second = send(registry, { rid: 102, sid }, "<message xmlns='jabber:client' to='b@localhost'><body>second</body></message>")
  t.same(up.contents(id), [], 'rid 102 waits for 101')
  t.notOk(second.answered)
  const first = send(registry, { rid: 101, sid }, "<message xmlns='jabber:client' to='b@localhost'><body>first</body></message>")
  t.same(up.contents(id).map((c) => parseElement(c).getChildText('body')), ['first', 'second'], 'forwarded in rid order')
  t.ok(first.answered, '101 answered (hold=1, 102 now held)')
  t.notOk(second.answered)
  up.deliver(id, "<message xmlns='jabber:client'><body>x</body></message>")
  t.ok(second.answered, '102 answered after 101')
  // XEP-0124 17.3: the gap was recovered by queueing, never by asking the client to repeat.
  t.ok([first, second].every((c) => c.el.attrs.type === undefined), 'no recoverable error (type=\'error\') on either')
})

t.test('multiple streams (XEP-0124 16) are not offered: no stream attribute, and a request to add a stream is a normal empty request', async (t) => {
  const { up, registry } = setup()
  const { sid, id, el } = created(registry, up)
  t.equal(el.attrs.stream, undefined, 'the creation response has no stream attribute, so clients know (16.2)')
  up.sent = []
  const opened = up.sessions.size
  // 16.3: "If the connection manager did not indicate its support for multiple streams at the start of the
  // session, then it MUST ignore the extra attributes and treat the request as a normal empty request."
  const add = send(registry, { rid: 101, sid, to: 'other.example', route: 'xmpp:other.example:5222', 'xml:lang': 'en' })
  t.equal(up.sessions.size, opened, 'no second stream is opened on the link')
  t.same(up.contents(id), [], 'nothing forwarded')
  t.notOk(add.answered, 'held, as an empty request is')
  up.deliver(id, "<message xmlns='jabber:client'><body>still one stream</body></message>")
  t.equal(add.el.attrs.stream, undefined, 'answered without a stream attribute')
  t.equal(add.el.getChild('message')?.getChildText('body'), 'still one stream')
  // 16.4: a stream attribute on a later request is ignored too: its payload goes to the session's one stream.
  send(registry, { rid: 102, sid, stream: 'made-up' }, "<message xmlns='jabber:client' to='b@localhost'><body>to the one stream</body></message>")
  t.same(up.contents(id).map((c) => parseElement(c).getChildText('body')), ['to the one stream'])
})

t.test('a repeated rid gets its buffered response byte for byte (XEP-0124 14.3)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  up.deliver(id, "<message xmlns='jabber:client'><body>once</body></message>")
  const again = send(registry, { rid: 101, sid })
  t.equal(again.answers[0], a.answers[0])
  t.equal(up.contents(id).length, 1, 'the payload (none) is not forwarded twice')
  const creationAgain = send(registry, { rid: 100, sid })
  t.match(creationAgain.answers[0], /authid='stream-1'/, 'the creation response is buffered too')
})

t.test('without acks, only responses the client may still ask for are kept (XEP-0124 14.1, 14.3)', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  send(registry, { rid: 102, sid })
  t.ok(a.answered, '101 answered early when 102 came (hold 1)')
  t.equal(send(registry, { rid: 101, sid }).answers[0], a.answers[0], '101 may still be asked for again')
  // With rid 102 sent and requests = 2, the client had the response to 100.
  t.equal(send(registry, { rid: 100, sid }).el.attrs.condition, 'item-not-found', '100 is no longer kept')
})

t.test('a repeated rid still held takes over the held request', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  const a2 = send(registry, { rid: 101, sid })
  t.equal(a.answers.length, 1, 'the first copy is answered empty')
  up.deliver(id, "<message xmlns='jabber:client'><body>z</body></message>")
  t.equal(a2.el.getChild('message')?.getChildText('body'), 'z', 'the data goes to the new copy')
})

t.test('a rid beyond the window and its slack terminates with item-not-found, and so does any later request (XEP-0124 14.2)', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up)
  const held = send(registry, { rid: 101, sid })
  // requests=2: after 101, the window is 102..103, and the slack of 2 takes it to 105.
  const far = send(registry, { rid: 106, sid })
  t.equal(far.el.attrs.condition, 'item-not-found')
  t.equal(held.el.attrs.type, 'terminate', 'the held request learns of the end too')
  t.equal(send(registry, { rid: 102, sid }).el.attrs.condition, 'item-not-found')
  t.same(up.ended, [1], 'the ejabberd session is closed')
  t.equal(registry.size, 0)
})

t.test('tsung\'s sequence: three requests out with requests=2, the oldest arriving last; the session goes on (XEP-0124 11, 14.2)', async (t) => {
  // tsung 1.7's BOSH client forgets one open request after sending a queued
  // stanza, so it has three out; the one on a fresh connection comes last.
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const held = send(registry, { rid: 101, sid })
  const late = [102, 103, 104].map((rid) => ({ rid, payload: `<message xmlns='jabber:client' to='b@localhost'><body>${rid}</body></message>` }))
  const c103 = send(registry, { rid: 103, sid }, late[1]?.payload)
  t.notOk(held.answered, 'two open (101 held, 103 queued): within requests')
  const c104 = send(registry, { rid: 104, sid }, late[2]?.payload)
  t.ok(held.answered, 'a third open request answers the oldest held one early, instead of ending the session')
  t.equal(held.el.attrs.type, undefined, 'an ordinary empty answer')
  t.same(up.contents(id), [], '103 and 104 wait for 102')
  const c102 = send(registry, { rid: 102, sid }, late[0]?.payload)
  t.same(up.contents(id).map((c) => parseElement(c).getChildText('body')), ['102', '103', '104'], 'forwarded once each, in rid order')
  t.ok(c102.answered && c103.answered, 'answered in rid order; 104 stays held (hold=1)')
  t.notOk(c104.answered)
  t.equal(registry.size, 1, 'the session survives')
  up.deliver(id, "<message xmlns='jabber:client'><body>back</body></message>")
  t.equal(c104.el.getChild('message')?.getChildText('body'), 'back')
  for (const c of [held, c102, c103, c104]) t.equal(c.answers.length, 1, 'each request answered exactly once')
})

t.test('strict mode: the same sequence ends the session with policy-violation (XEP-0124 11)', async (t) => {
  const { up, registry } = setup({ strictRequests: true })
  const { sid } = created(registry, up)
  const held = send(registry, { rid: 101, sid })
  const c103 = send(registry, { rid: 103, sid })
  t.notOk(c103.answered, 'two open: allowed')
  const c104 = send(registry, { rid: 104, sid })
  t.equal(c104.el.attrs.condition, 'policy-violation')
  t.equal(held.el.attrs.condition, 'policy-violation', 'every open request learns of the end')
  t.equal(c103.el.attrs.condition, 'policy-violation')
  t.equal(registry.size, 0)
})

t.test('strict mode has no rid slack, and still allows the extra terminate (XEP-0124 11, 14.2)', async (t) => {
  const strict = setup({ strictRequests: true })
  const s = created(strict.registry, strict.up)
  t.equal(send(strict.registry, { rid: 104, sid: s.sid }).el.attrs.condition, 'item-not-found', '104 is past 101..102 plus nothing')
  const again = setup({ strictRequests: true })
  const a = created(again.registry, again.up)
  const term = send(again.registry, { rid: 103, sid: a.sid, type: 'terminate' })
  t.notOk(term.answered, 'the terminate one past the window waits for 101 and 102')
  send(again.registry, { rid: 101, sid: a.sid })
  send(again.registry, { rid: 102, sid: a.sid })
  t.equal(term.el.attrs.type, 'terminate')
  t.equal(term.el.attrs.condition, undefined, 'a normal end')
})

t.test('a terminate may come one beyond the window, with every request before it still in flight (XEP-0124 11)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  // requests=2: 101 and 102 are in flight and not yet arrived; the terminate is 103.
  const term = send(registry, { rid: 103, sid, type: 'terminate' }, "<presence xmlns='jabber:client' type='unavailable'/>")
  t.notOk(term.answered, 'queued behind 101 and 102')
  const a = send(registry, { rid: 101, sid }, "<message xmlns='jabber:client'><body>1</body></message>")
  const b = send(registry, { rid: 102, sid })
  t.same(up.contents(id).map((c) => c.slice(0, 9)), ['<message ', '<presence', '<close xm'], 'forwarded in rid order, then the stream closed')
  t.ok(a.answered && b.answered && term.answered)
  t.equal(term.el.attrs.type, 'terminate')
})

t.test('a terminate ahead of a gap that never fills ends the session after a bounded grace, not at inactivity', async (t) => {
  // A closing page: Strophe's rid 102 is cancelled before it leaves the
  // browser, and the page's beacon carries the terminate with rid 103.
  const { clock, up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const a = send(registry, { rid: 101, sid }, "<message xmlns='jabber:client'><body>1</body></message>")
  const term = send(registry, { rid: 103, sid, type: 'terminate' }, "<presence xmlns='jabber:client' type='unavailable'/>")
  clock.advance(TERMINATE_GAP_GRACE_MS - 1)
  t.notOk(term.answered, 'waits for 102 within the grace')
  t.same(up.contents(id).map((c) => c.slice(0, 9)), ['<message '])
  clock.advance(1)
  t.same(up.contents(id).map((c) => c.slice(0, 9)), ['<message ', '<presence', '<close xm'], 'the terminate\'s payload, then the stream closed')
  t.ok(a.answered, 'the held request is answered')
  t.equal(term.el.attrs.type, 'terminate')
  t.equal(term.el.attrs.condition, undefined, 'a normal end, as the client asked')
  t.equal(registry.size, 0, 'the session is gone')
  t.equal(send(registry, { rid: 102, sid }).el.attrs.condition, 'item-not-found', 'the lost request, if it comes late, finds no session')
})

t.test('requests ahead of a gap the client never fills end the session with item-not-found past wait and a grace, not never', async (t) => {
  const { clock, up, registry } = setup()
  const { sid, id } = created(registry, up, { hold: 2 })
  up.sent = []
  const waitMs = 20_000 // created()'s wait
  const ahead = send(registry, { rid: 102, sid }, "<message xmlns='jabber:client'><body>after the gap</body></message>")
  clock.advance(waitMs + MISSING_RID_GRACE_MS - 1)
  t.notOk(ahead.answered, 'waits for 101 past wait, as a client may resend it that late')
  clock.advance(1)
  t.equal(ahead.el.attrs.condition, 'item-not-found', 'then the session ends')
  t.same(up.contents(id), [], 'nothing forwarded out of rid order')
  t.same([up.ended, up.endReasons], [[id], ['timeout']], 'the connection ID ends as a lost network, so XEP-0198 can resume')
  t.equal(registry.size, 0)
})

t.test('a gap that fills clears its deadline; a later gap gets its own', async (t) => {
  const { clock, up, registry } = setup()
  const { sid, id } = created(registry, up, { hold: 2 })
  const waitMs = 20_000
  send(registry, { rid: 102, sid })
  clock.advance(waitMs)
  send(registry, { rid: 101, sid })
  up.deliver(id, "<message xmlns='jabber:client'><body>x</body></message>")
  const later = send(registry, { rid: 104, sid })
  clock.advance(MISSING_RID_GRACE_MS + 1)
  t.equal(registry.size, 1, 'the first gap\'s deadline did not end the session')
  t.notOk(later.answered)
  clock.advance(waitMs + MISSING_RID_GRACE_MS)
  t.equal(later.el.attrs.condition, 'item-not-found', 'the second gap ends it at its own deadline')
})

t.test('a gap that fills within the grace keeps rid order, and the grace timer does nothing after', async (t) => {
  const { clock, up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const term = send(registry, { rid: 102, sid, type: 'terminate' })
  clock.advance(TERMINATE_GAP_GRACE_MS / 2)
  send(registry, { rid: 101, sid }, "<message xmlns='jabber:client'><body>1</body></message>")
  t.ok(term.answered)
  t.same(up.contents(id).map((c) => c.slice(0, 9)), ['<message ', '<close xm'])
  clock.advance(TERMINATE_GAP_GRACE_MS)
  t.same(up.contents(id).map((c) => c.slice(0, 9)), ['<message ', '<close xm'], 'nothing more')
})

t.test('an old rid no longer buffered gets item-not-found (XEP-0124 14.3)', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up)
  for (let rid = 101; rid <= 104; rid++) send(registry, { rid, sid })
  t.equal(send(registry, { rid: 101, sid }).el.attrs.condition, 'item-not-found')
})

t.test('an unknown sid gets item-not-found (XEP-0124 17.2)', async (t) => {
  const { registry } = setup()
  t.equal(send(registry, { rid: 5, sid: 'nope' }).el.attrs.condition, 'item-not-found')
})

t.test('no request open for inactivity seconds ends the session and its ejabberd session (XEP-0124 10)', async (t) => {
  const { clock, up, registry } = setup()
  const { sid } = created(registry, up)
  clock.advance(29_999)
  t.equal(registry.size, 1)
  const a = send(registry, { rid: 101, sid })
  clock.advance(20_000)
  t.ok(a.answered, 'answered at wait (20 s)')
  clock.advance(29_999)
  t.equal(registry.size, 1, 'inactivity counts from the last answer, not creation')
  clock.advance(1)
  t.equal(registry.size, 0)
  t.same(up.ended, [1])
  t.equal(send(registry, { rid: 102, sid }).el.attrs.condition, 'item-not-found')
})

t.test('only the client\'s terminate closes the XMPP stream; other ends drop the connection ID, so XEP-0198 can resume', async (t) => {
  const { clock, up, registry } = setup()
  const { id } = created(registry, up)
  up.sent = []
  clock.advance(30_000)
  t.same(up.contents(id), [], 'no <close/> on inactivity')
  t.same(up.endReasons, ['timeout'])
  const second = created(registry, up)
  send(registry, { rid: 106, sid: second.sid })
  t.same(up.contents(second.id).filter((c) => c.startsWith('<close')), [], 'no <close/> on a refused request')
  t.same(up.endReasons, ['timeout', 'error'])
})

t.test('a client that stops collecting its output is cut off at 1 MiB pending, not kept growing', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const chunk = `<message xmlns='jabber:client'><body>${'z'.repeat(10_000)}</body></message>`
  for (let i = 0; i < 100; i++) up.deliver(id, chunk)
  t.equal(registry.size, 1, '~1 MB pending: still within bounds')
  for (let i = 0; i < 10; i++) up.deliver(id, chunk)
  t.same(up.ended, [id], 'over 1 MiB: ended on the link')
  t.same(up.endReasons, ['error'])
  const next = send(registry, { rid: 101, sid })
  t.equal(next.el.attrs.condition, 'policy-violation')
  t.ok(next.answers[0]!.length < 200, 'and the pile is not sent')
})

t.test('a malformed ack or pause ends the session with bad-request, answering what was held', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up, { ack: 1 })
  const held = send(registry, { rid: 101, sid })
  const bad = send(registry, { rid: 102, sid, ack: 'many' })
  t.equal(bad.el.attrs.condition, 'bad-request')
  t.equal(held.el.attrs.condition, 'bad-request')
  t.equal(registry.size, 0)
  const other = created(registry, up)
  t.equal(send(registry, { rid: 101, sid: other.sid, pause: '-1' }).el.attrs.condition, 'bad-request')
})

t.test('a held request whose connection the client dropped starts the inactivity clock', async (t) => {
  const { clock, up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  registry.get(sid)?.abandon(a.respond)
  up.deliver(id, "<message xmlns='jabber:client'><body>kept</body></message>")
  t.notOk(a.answered, 'nothing written to the dropped request')
  const b = send(registry, { rid: 102, sid })
  t.equal(b.el.getChild('message')?.getChildText('body'), 'kept', 'the data waits for the next request')
  clock.advance(20_000)
  clock.advance(30_000)
  t.equal(registry.size, 0)
})

t.test('terminate forwards its payload, then closes the stream; later requests get item-not-found (XEP-0124 13)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const held = send(registry, { rid: 101, sid })
  const term = send(registry, { rid: 102, sid, type: 'terminate' }, "<presence xmlns='jabber:client' type='unavailable'/>")
  t.same(up.contents(id), ['<presence xmlns="jabber:client" type="unavailable"/>', "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"])
  t.same(up.ended, [], 'the connection ID is left for ejabberd to end once it has read the payload')
  t.equal(term.el.attrs.type, 'terminate')
  t.equal(term.el.attrs.condition, undefined, 'a normal end has no condition')
  t.ok(held.answered)
  t.equal(send(registry, { rid: 103, sid }).el.attrs.condition, 'item-not-found')
})

t.test('after a terminate, ejabberd ends the connection ID; if it does not within 10 s, Megaphone does', async (t) => {
  const { clock, up, registry } = setup()
  const a = created(registry, up)
  send(registry, { rid: 101, sid: a.sid, type: 'terminate' })
  up.sessions.get(a.id)?.onLinkClose('normal')
  clock.advance(10_000)
  t.same(up.ended, [], 'ejabberd closed it: nothing to do')
  const b = created(registry, up)
  send(registry, { rid: 101, sid: b.sid, type: 'terminate' })
  clock.advance(9_999)
  t.same(up.ended, [])
  clock.advance(1)
  t.same(up.ended, [b.id])
  t.same(up.endReasons, ['timeout'])
})

t.test('restart opens a new stream and returns the new features (XEP-0206 5)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.sent = []
  const restart = send(registry, { rid: 101, sid, 'xmpp:restart': 'true', to: 'localhost' })
  t.same(up.contents(id), ["<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"])
  t.notOk(restart.answered)
  up.deliver(id, OPEN.replace('stream-1', 'stream-2'))
  up.deliver(id, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
  t.ok(restart.el.getChild('features')?.getChild('bind'), 'new features')
  t.equal(restart.el.toString().includes('<open'), false, 'the stream header is not passed to the client')
})

t.test('a restart request with payload gets bad-request (XEP-0206 5)', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up)
  t.equal(send(registry, { rid: 101, sid, 'xmpp:restart': 'true' }, '<presence/>').el.attrs.condition, 'bad-request')
})

t.test('acks: an answer to an older rid acknowledges the highest, and a lost response is reported (XEP-0124 9)', async (t) => {
  const { clock, up, registry } = setup()
  const { sid, id, el } = created(registry, up, { ack: 1 })
  t.equal(el.attrs.ack, '100')
  const a = send(registry, { rid: 101, sid, ack: 100 })
  const b = send(registry, { rid: 102, sid, ack: 100 })
  t.equal(a.el.attrs.ack, '102', 'rid 101 answered after 102 arrived')
  up.deliver(id, "<message xmlns='jabber:client'><body>x</body></message>")
  t.equal(b.el.attrs.ack, undefined, 'no ack when answering the highest rid')
  // The client never acknowledges 101; by rid 104 it must have had it.
  clock.advance(500)
  send(registry, { rid: 103, sid, ack: 100 })
  const d = send(registry, { rid: 104, sid, ack: 100 })
  up.deliver(id, "<message xmlns='jabber:client'><body>y</body></message>")
  t.equal(d.el.attrs.report, '101', 'report names the first response not acknowledged')
  t.ok(Number(d.el.attrs.time) >= 500, 'time since it was sent')
  t.equal(send(registry, { rid: 101, sid }).answers.length, 1, 'and it can still be retransmitted')
})

t.test('pause answers held requests and stretches inactivity up to maxpause (XEP-0124 10)', async (t) => {
  const { clock, up, registry } = setup()
  const { sid } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  const p = send(registry, { rid: 102, sid, pause: 100 })
  t.ok(a.answered)
  t.ok(p.answered)
  clock.advance(99_000)
  t.equal(registry.size, 1, 'alive past inactivity during the pause')
  clock.advance(1_000)
  t.equal(registry.size, 0)
  const { sid: sid2 } = created(registry, up)
  t.equal(send(registry, { rid: 101, sid: sid2, pause: 121 }).el.attrs.condition, 'policy-violation', 'pause beyond maxpause')
})

t.test('a polling session (hold=0) answers at once and may not poll faster than polling (XEP-0124 12)', async (t) => {
  const { clock, up, registry } = setup()
  const { sid } = created(registry, up, { hold: 0 })
  t.ok(send(registry, { rid: 101, sid }).answered, 'answered at once')
  clock.advance(2_000)
  t.ok(send(registry, { rid: 102, sid }).answered)
  t.ok(send(registry, { rid: 103, sid }, '<presence/>').answered, 'a request with payload is never too soon')
  t.equal(send(registry, { rid: 104, sid }).el.attrs.condition, 'policy-violation', 'two empty polls within 2 s')
})

t.test('a key sequence protects the session: each key must hash to the last (XEP-0124 15)', async (t) => {
  const { up, registry } = setup()
  const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex')
  const k3 = 'seed'
  const k2 = sha1(k3)
  const k1 = sha1(k2)
  const k0 = sha1(k1)
  const { sid } = created(registry, up, { newkey: k0 })
  const r101 = send(registry, { rid: 101, sid, key: k1 })
  t.equal(r101.answers.length, 0, 'right key: accepted and held')
  const r102 = send(registry, { rid: 102, sid, key: k2 })
  t.equal(r101.answers.length, 1, 'next key: accepted, releasing 101')
  t.equal(send(registry, { rid: 101, sid, key: k1 }).answers[0], r101.answers[0], 'a retransmission is answered from the buffer')
  const r104 = send(registry, { rid: 104, sid, key: 'not-in-the-chain' })
  t.equal(r104.answers.length, 0, 'a request ahead of a gap is checked in its turn, not on arrival')
  send(registry, { rid: 103, sid, key: k3 })
  t.equal(r102.answers.length, 1, '103 accepted, releasing 102')
  t.equal(r104.el.attrs.condition, 'item-not-found', '104: its key does not hash to the last one')
  t.equal(registry.size, 0, 'the session is over')
})

t.test('a stream error from ejabberd ends the session with remote-stream-error and the error inside (XEP-0206 8.4)', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  up.deliver(id, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
  t.equal(a.el.attrs.condition, 'remote-stream-error')
  t.ok(a.el.getChild('error')?.getChild('conflict'))
  t.equal(registry.size, 0)
})

t.test('a stream error with no request held is kept for the next request', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  up.deliver(id, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
  t.equal(registry.size, 1)
  t.equal(send(registry, { rid: 101, sid }).el.attrs.condition, 'remote-stream-error')
  t.equal(registry.size, 0)
})

t.test('the link going down ends held sessions with system-shutdown, so that clients reconnect', async (t) => {
  const { up, registry } = setup()
  const { sid, id } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  up.sessions.get(id)?.onLinkClose('link-down')
  t.equal(a.el.attrs.condition, 'system-shutdown', 'not remote-connection-failed, which Converse.js takes as final')
})

t.test('shutdown answers every held request with system-shutdown (XEP-0124 17.2)', async (t) => {
  const { up, registry } = setup()
  const { sid } = created(registry, up)
  const a = send(registry, { rid: 101, sid })
  registry.shutdown()
  t.equal(a.el.attrs.condition, 'system-shutdown')
  t.equal(registry.size, 0)
})

t.test('with a see-other URI, shutdown answers held requests with see-other-uri and the URI (XEP-0124 17.2); what ejabberd sent goes with it', async (t) => {
  const clock = new FakeClock()
  const up = new RecordingUpstream()
  const registry = new Registry({ ...LIMITS, seeOtherUri: 'https://chat2.example.com/http-bind?a=1&b=2', upstream: up, log: silent, clock, defer: (fn) => fn() })
  const { sid, id } = created(registry, up, { hold: 2 })
  const a = send(registry, { rid: 101, sid })
  const b = send(registry, { rid: 102, sid })
  up.deliver(id, "<message xmlns='jabber:client'><body>last</body></message>")
  const c = send(registry, { rid: 103, sid })
  registry.shutdown()
  for (const call of [b, c]) {
    t.equal(call.el.attrs.type, 'terminate')
    t.equal(call.el.attrs.condition, 'see-other-uri')
    t.equal(call.el.getChildText('uri'), 'https://chat2.example.com/http-bind?a=1&b=2', 'the URI, escaped in the XML and whole when read')
  }
  t.match(a.answers[0], /<body>last<\/body>/, 'the message reached the oldest held request before the shutdown')
  t.same([up.ended, up.endReasons], [[id], ['shutdown']], 'the connection ID ends as on a lost network, so XEP-0198 can resume elsewhere')
  t.equal(registry.stats.closed.get('see-other-uri'), 1)
})

t.test('sessions beyond maxSessions are refused with policy-violation', async (t) => {
  const { up, registry } = setup({ maxSessions: 1 })
  created(registry, up)
  t.equal(send(registry, { rid: 1, to: 'localhost', wait: 10, hold: 1 }).el.attrs.condition, 'policy-violation')
})
