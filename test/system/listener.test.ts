// megaphone_listener's side of docs/link-protocol.md, driven frame by frame
// over a bare socket against the real ejabberd: what it says to a front end
// that gets the protocol wrong, and that it stays up for everyone else.
import t, { type Test } from 'tap'
import { RawLink } from '../helpers/raw-link.js'
import { testEjabberd, waitFor, registerUsers } from '../helpers/ejabberd.js'
import { Link } from '../../lib/link/link.js'
import { LinkXmppClient, chat } from '../helpers/link-xmpp-client.js'
import { NS_FRAMING } from '../../lib/link/constants.js'

const ej = testEjabberd()
/**
 * scripts/ejabberd.yml.template's second megaphone_listener: the same port on
 * 127.0.0.2, with heartbeat_timeout 1 s instead of the default 15 s.
 */
const SHORT_HOST = '127.0.0.2'
const SHORT_TIMEOUT_MS = 1_000

async function readyLink (t: Test): Promise<RawLink> {
  const raw = await RawLink.connect(ej.linkPort)
  t.teardown(() => raw.destroy())
  t.match(await raw.handshake(ej.secret), /^ready 1 \d+ \d+$/)
  return raw
}

t.test('the listener opens with a challenge and accepts the right secret (Handshake)', async (t) => {
  const raw = await RawLink.connect(ej.linkPort)
  t.teardown(() => raw.destroy())
  const challenge = await raw.nextControl('challenge ')
  t.match(challenge, /^challenge 1 [0-9a-f]{32}$/, 'version and a 32-hex-digit nonce')
  raw.frames.unshift({ id: 0, content: Buffer.from(challenge) })
  t.equal(await raw.handshake(ej.secret), 'ready 1 1048576 15000', 'ready with its maximum frame and heartbeat timeout')
  raw.control('ping 42')
  t.equal(await raw.nextControl('pong '), 'pong 42', 'answers a ping')
})

const refusals: Array<[string, (raw: RawLink) => Promise<string | void>, RegExp]> = [
  ['a wrong secret', async (raw) => await raw.handshake('wrong secret, same length as none'), /^denied bad-secret$/],
  ['another protocol version', async (raw) => await raw.handshake(ej.secret, 2), /^denied bad-version$/],
  ['a malformed auth', async (raw) => { await raw.nextControl('challenge '); raw.control('auth 1 nothex 1048576') }, /^denied malformed-auth$/],
  ['a session frame before the handshake', async (raw) => { raw.send(1, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>") }, /^bye handshake-required$/],
  ['an open before the handshake', async (raw) => { raw.control('open 1 127.0.0.1 5000') }, /^bye handshake-required$/]
]

for (const [what, act, answer] of refusals) {
  t.test(`${what} is refused and the link closed (Handshake)`, async (t) => {
    const raw = await RawLink.connect(ej.linkPort)
    t.teardown(() => raw.destroy())
    const said = await act(raw)
    const reply = typeof said === 'string' ? said : (await raw.next((f) => f.id === 0 && /^(denied|bye) /.test(f.content.toString()))).content.toString()
    t.match(reply, answer)
    await raw.waitClosed()
    t.ok(raw.closed, 'the listener closed the socket')
  })
}

const protocolErrors: Array<[string, (raw: RawLink) => void, RegExp, RegExp]> = [
  ['a non-digit in a frame length', (raw) => raw.socket.write('00000000x1|00000000000000000001|'), /^bye malformed-frame bad-length$/, /malformed frame \(bad-length\) at byte offset \d+/],
  ['a frame over the maximum', (raw) => raw.socket.write('0009999999|00000000000000000001|'), /^bye malformed-frame frame-too-large$/, /malformed frame \(frame-too-large\)/],
  ['a connection ID opened twice', (raw) => { raw.control('open 7 127.0.0.1 1'); raw.control('open 7 127.0.0.1 2') }, /^bye duplicate-id$/, /duplicate-id/],
  ['an unknown control word', (raw) => raw.control('hello there'), /^bye unknown-control$/, /unexpected control message/],
  ['a control word only ejabberd sends', (raw) => raw.control('ready 1 1048576 15000'), /^bye unknown-control$/, /unexpected control message/]
]

for (const [what, act, answer, logged] of protocolErrors) {
  t.test(`${what} ends the link with bye and the reason (Frames, Ending the link)`, async (t) => {
    const raw = await readyLink(t)
    const port = raw.socket.localPort as number
    act(raw)
    t.match(await raw.nextControl('bye '), answer)
    await raw.waitClosed()
    // ejabberd's logger writes asynchronously: wait for the line naming this link.
    const line = new RegExp(`Megaphone link 127\\.0\\.0\\.1:${port}: .*${logged.source}`)
    await waitFor(async () => line.test(await ej.readLog()), 10_000, 'the log line')
    t.match(await ej.readLog(), line, 'ejabberd logs what was wrong, naming the link')
  })
}

t.test('a frame for an unknown connection ID gets close unknown-id and the link stays up (Sessions)', async (t) => {
  const raw = await readyLink(t)
  raw.send(99, '<presence/>')
  t.equal(await raw.nextControl('close '), 'close 99 unknown-id')
  raw.control('ping 1')
  t.equal(await raw.nextControl('pong '), 'pong 1')
})

t.test('session content over max_stanza_size ends that session with policy-violation (Session content)', async (t) => {
  const raw = await readyLink(t)
  raw.control('open 1 127.0.0.1 1001')
  raw.control('open 2 127.0.0.1 1002')
  for (const id of [1, 2]) {
    raw.send(id, `<open xmlns='${NS_FRAMING}' to='${ej.domain}' version='1.0'/>`)
    await raw.next((f) => f.id === id && f.content.toString().startsWith('<stream:features'), 10_000, `features of ${id}`)
  }
  raw.send(1, `<message xmlns='jabber:client' to='x@${ej.domain}'><body>${'y'.repeat(70_000)}</body></message>`)
  const error = await raw.next((f) => f.id === 1 && f.content.toString().startsWith('<stream:error'), 10_000, 'stream error')
  t.match(error.content.toString(), /policy-violation/)
  t.equal(await raw.nextControl('close 1 '), 'close 1 stream-error')
  // The other session on the link is untouched: it still answers SASL.
  const token = Buffer.from('\0nobody\0wrong').toString('base64')
  raw.send(2, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`)
  const reply = await raw.next((f) => f.id === 2 && !f.content.toString().startsWith('<open'), 10_000, 'reply on session 2')
  t.match(reply.content.toString(), /^<failure xmlns=['"]urn:ietf:params:xml:ns:xmpp-sasl['"]>/)
})

t.test('ejabberd sends one complete, namespaced element per frame (Session content)', async (t) => {
  const raw = await readyLink(t)
  raw.control('open 1 127.0.0.1 1001')
  raw.send(1, `<open xmlns='${NS_FRAMING}' to='${ej.domain}' version='1.0' xml:lang='en'/>`)
  const open = await raw.next((f) => f.id === 1, 10_000, 'stream open')
  t.match(open.content.toString(), /^<open [^>]*xmlns=['"]urn:ietf:params:xml:ns:xmpp-framing['"][^>]*\/>$/)
  t.match(open.content.toString(), /from=['"]localhost['"]/)
  const features = await raw.next((f) => f.id === 1, 10_000, 'features')
  t.match(features.content.toString(), /^<stream:features xmlns:stream=['"]http:\/\/etherx\.jabber\.org\/streams['"][\s\S]*<\/stream:features>$/)
  raw.send(1, `<close xmlns='${NS_FRAMING}'/>`)
  const close = await raw.next((f) => f.id === 1, 10_000, 'stream close')
  t.match(close.content.toString(), /^<close xmlns=['"]urn:ietf:params:xml:ns:xmpp-framing['"]\/>$/)
  t.equal(await raw.nextControl('close '), 'close 1 normal')
})

t.test('a front end that goes silent, or never authenticates, is dropped within the heartbeat timeout (Heartbeat)', async (t) => {
  // The listener with a configured heartbeat_timeout of 1 s; the default
  // listener's 15 s is the `ready` of the first test.
  const started = Date.now()
  const silent = await RawLink.connect(ej.linkPort, SHORT_HOST)
  t.teardown(() => silent.destroy())
  t.equal(await silent.handshake(ej.secret), `ready 1 1048576 ${SHORT_TIMEOUT_MS}`, 'ready with the configured heartbeat timeout')
  const mute = await RawLink.connect(ej.linkPort, SHORT_HOST)
  t.teardown(() => mute.destroy())
  const [heartbeat, handshake] = await Promise.all([
    silent.nextControl('bye ', SHORT_TIMEOUT_MS + 10_000),
    mute.nextControl('bye ', SHORT_TIMEOUT_MS + 10_000)
  ])
  t.equal(heartbeat, 'bye heartbeat-timeout')
  t.equal(handshake, 'bye handshake-timeout')
  const elapsed = Date.now() - started
  t.ok(elapsed >= SHORT_TIMEOUT_MS && elapsed < SHORT_TIMEOUT_MS + 5_000, `dropped after ${elapsed} ms (timeout ${SHORT_TIMEOUT_MS} ms)`)
  await Promise.all([silent.waitClosed(), mute.waitClosed()])
  t.ok(silent.closed && mute.closed, 'the listener closed both sockets')
})

t.test('random bytes on 40 links, before and after the handshake, end only those links', async (t) => {
  const prefix = 'lsjunk'
  const users = await registerUsers(prefix, 2, 'pw')
  const link = new Link({ host: '127.0.0.1', port: ej.linkPort, secret: ej.secret })
  link.start()
  t.teardown(async () => await link.close())
  await link.waitReady(10_000)
  const [alice, bob] = [new LinkXmppClient(link), new LinkXmppClient(link)]
  await Promise.all([alice.login(users[0]!, 'pw', ej.domain), bob.login(users[1]!, 'pw', ej.domain)])

  // A fixed seed, so a failure can be replayed.
  let seed = 424242
  const rnd = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32 }
  const junk = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))
  const digits = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => 0x30 + Math.floor(rnd() * 10)))
  const outcomes = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const raw = await RawLink.connect(ej.linkPort)
    t.teardown(() => raw.destroy())
    if (i % 2 === 1) await raw.handshake(ej.secret)
    // Digits make headers that parse for a while before failing; the rest is noise.
    raw.socket.write(i % 4 < 2 ? junk(64 + i * 10) : Buffer.concat([digits(10), Buffer.from('|'), junk(40)]))
    await raw.waitClosed(20_000)
    return raw.frames.map((f) => f.content.toString()).filter((c) => /^(bye|denied) /.test(c))[0] ?? 'closed'
  }))
  t.equal(outcomes.length, 40, 'every junk link was closed by the listener')
  t.ok(outcomes.every((o) => /^(bye|denied) [a-z-]+( [a-z-]+)?$|^closed$/.test(o)), `each said why: ${[...new Set(outcomes)].join(', ')}`)

  t.equal(link.status, 'ready', 'the good link is untouched')
  alice.send(chat(`${users[1]!}@${ej.domain}`, 'after the storm', 'j1'))
  const got = await bob.wait((el) => el.name === 'message' && el.attrs.id === 'j1')
  t.equal(got.getChildText('body'), 'after the storm', 'its sessions still chat')
  await Promise.all([alice.logout(), bob.logout()])
})
