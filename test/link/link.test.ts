// The link's timers on a fake clock: handshake timeout, heartbeat (pings, and
// a silent peer declared dead), and reconnect backoff. The peer is a scripted
// listener on loopback speaking docs/link-protocol.md with the codec, since a
// real ejabberd cannot be made to stay silent on cue; the link against the
// real listener is test/system/link.test.ts and listener.test.ts.
import t, { type Test } from 'tap'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { FrameDecoder, encodeFrame } from '../../lib/link/codec.js'
import { formatControl, parseControl, type ControlMessage } from '../../lib/link/control.js'
import { CONTROL_ID } from '../../lib/link/constants.js'
import { Link, type LinkStatus } from '../../lib/link/link.js'
import { FakeClock } from '../helpers/fake-clock.js'

const SECRET = 'unit-secret-0123456789'
const WAIT_MS = 5_000

/** A listener that accepts one link at a time and does what the test says. */
class ScriptedPeer {
  readonly server = net.createServer()
  socket: net.Socket | null = null
  readonly received: ControlMessage[] = []
  #waiters: Array<() => void> = []

  async listen (): Promise<number> {
    this.server.on('connection', (socket) => {
      this.socket = socket
      const decoder = new FrameDecoder()
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) if (frame.id === CONTROL_ID) this.received.push(parseControl(frame.content))
        for (const wake of this.#waiters.splice(0)) wake()
      })
      socket.on('error', () => {})
      for (const wake of this.#waiters.splice(0)) wake()
    })
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    return (this.server.address() as net.AddressInfo).port
  }

  send (msg: ControlMessage): void { this.socket?.write(encodeFrame(CONTROL_ID, formatControl(msg))) }

  /** Cuts the current connection, as a network would. */
  drop (): void {
    this.socket?.destroy()
    this.socket = null
    this.received.length = 0
  }

  /** Resolves once `ready()` holds, re-checked on every connection and every frame; bounded. */
  async until (ready: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`peer: no ${what} within ${WAIT_MS} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** The handshake as the listener does it: challenge, check the HMAC, ready. */
  async handshake (heartbeatTimeoutMs: number): Promise<void> {
    await this.until(() => this.socket !== null, 'connection')
    const nonce = 'ab'.repeat(16)
    this.send({ word: 'challenge', version: 1, nonce })
    await this.until(() => this.received.some((m) => m.word === 'auth'), 'auth')
    const auth = this.received.find((m) => m.word === 'auth') as Extract<ControlMessage, { word: 'auth' }>
    if (auth.hmac !== createHmac('sha256', SECRET).update(nonce, 'latin1').digest('hex')) throw new Error('peer: wrong HMAC')
    this.send({ word: 'ready', version: 1, maxFrameBytes: 1 << 20, heartbeatTimeoutMs })
  }

  async close (): Promise<void> {
    this.socket?.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }
}

/** Resolves with the next value the link emits for `event`; bounded. */
async function next<T> (link: Link, event: string): Promise<T> {
  const [value] = await once(link, event, { signal: AbortSignal.timeout(WAIT_MS) }) as [T]
  return value
}

async function setup (t: Test, opts: { heartbeatIntervalMs?: number, heartbeatTimeoutMs?: number } = {}): Promise<{ peer: ScriptedPeer, link: Link, clock: FakeClock }> {
  const peer = new ScriptedPeer()
  const port = await peer.listen()
  const clock = new FakeClock()
  const link = new Link({ host: '127.0.0.1', port, secret: SECRET, clock, random: () => 0, ...opts })
  t.teardown(async () => { await link.close(); await peer.close() })
  return { peer, link, clock }
}

t.test('a peer that never sends the challenge is dropped after the heartbeat timeout (docs "Handshake")', async (t) => {
  const { peer, link, clock } = await setup(t, { heartbeatTimeoutMs: 3_000 })
  const handshaking = next<LinkStatus>(link, 'status')
  link.start()
  t.equal(await handshaking, 'connecting')
  await peer.until(() => peer.socket !== null, 'connection')
  if (link.status !== 'handshaking') t.equal(await next<LinkStatus>(link, 'status'), 'handshaking')
  clock.advance(2_999)
  t.equal(link.status, 'handshaking', 'still waiting a millisecond before the timeout')
  const down = next<string>(link, 'down')
  clock.advance(1)
  t.equal(await down, 'handshake-timeout')
  t.equal(link.status, 'waiting', 'and it will try again')
})

t.test('ready: pings every interval, at most a third of the peer\'s timeout, and a silent peer is declared dead (docs "Heartbeat")', async (t) => {
  const { peer, link, clock } = await setup(t, { heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 4_000 })
  const ready = next(link, 'ready')
  link.start()
  // The peer's timeout is 3,000 ms: pings every 1,000 ms, not every 5,000.
  await peer.handshake(3_000)
  await ready
  clock.advance(999)
  t.equal(peer.received.filter((m) => m.word === 'ping').length, 0, 'no ping before the interval')
  clock.advance(1)
  await peer.until(() => peer.received.some((m) => m.word === 'ping'), 'ping')
  t.match(peer.received.find((m) => m.word === 'ping'), { word: 'ping', token: '1' }, 'ping 1 after 1,000 ms')
  peer.send({ word: 'pong', token: '1' })
  clock.advance(1_000)
  await peer.until(() => peer.received.filter((m) => m.word === 'ping').length === 2, 'second ping')
  t.equal(link.status, 'ready', 'a peer that answers keeps the link')
  // From here the peer says nothing: the link gives up 4,000 ms after the last frame it received.
  const down = next<string>(link, 'down')
  clock.advance(4_000)
  t.equal(await down, 'heartbeat-timeout')
  t.equal(link.status, 'waiting')
})

t.test('reconnect delays back off from the minimum, double per failed attempt, and stop at the cap', async (t) => {
  // A port that refuses: the server is closed before the link starts.
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  const clock = new FakeClock()
  const link = new Link({ host: '127.0.0.1', port, secret: SECRET, clock, random: () => 0, reconnectMinDelayMs: 100, reconnectMaxDelayMs: 1_000 })
  t.teardown(async () => { await link.close() })
  const delays: number[] = []
  let down = next(link, 'down')
  link.start()
  for (let attempt = 0; attempt < 6; attempt++) {
    await down
    t.equal(link.status, 'waiting')
    // The handshake timer went with the socket: the only timer left is the reconnect.
    t.equal(clock.delays.length, 1, 'one timer: the reconnect')
    const delay = clock.delays[0] as number
    delays.push(delay)
    clock.advance(delay - 1)
    t.equal(link.status, 'waiting', `attempt ${attempt + 2} not before ${delay} ms`)
    down = next(link, 'down')
    clock.advance(1)
    t.equal(link.status, 'connecting', `attempt ${attempt + 2} at ${delay} ms`)
  }
  // random() = 0 draws the lowest delay, half the base: bases 100, 200, 400, 800, then the 1,000 cap.
  t.same(delays, [50, 100, 200, 400, 500, 500])
})

t.test('a successful handshake resets the backoff (docs "Handshake")', async (t) => {
  const { peer, link, clock } = await setup(t, { heartbeatTimeoutMs: 3_000 })
  link.start()
  await peer.until(() => peer.socket !== null, 'connection')
  // First attempt times out in the handshake, the second succeeds.
  let down = next<string>(link, 'down')
  clock.advance(3_000)
  t.equal(await down, 'handshake-timeout')
  peer.drop()
  clock.advance(clock.delays[0] as number)
  const ready = next(link, 'ready')
  await peer.handshake(3_000)
  await ready
  down = next<string>(link, 'down')
  peer.drop()
  t.equal(await down, 'socket-closed')
  t.equal(clock.delays.at(-1), 50, 'back to the first delay after a link that was ready')
})

t.test('a close reason this version does not know still ends the session, as error, and the link stays up (docs "Sessions")', async (t) => {
  const { peer, link } = await setup(t, { heartbeatTimeoutMs: 3_000 })
  const ready = next(link, 'ready')
  link.start()
  await peer.handshake(3_000)
  await ready
  const reasons: string[] = []
  let closed!: () => void
  const ended = new Promise<void>((resolve) => { closed = resolve })
  const id = link.open({ onLinkFrame () {}, onLinkClose (reason) { reasons.push(reason); closed() } }, '192.0.2.1', 1234)
  await peer.until(() => peer.received.some((m) => m.word === 'open'), 'open')
  peer.send({ word: 'close', id, reason: 'going-away' })
  let bound: NodeJS.Timeout | undefined
  await Promise.race([ended, new Promise((_resolve, reject) => { bound = setTimeout(() => reject(new Error(`session not closed within ${WAIT_MS} ms`)), WAIT_MS) })])
  clearTimeout(bound)
  t.same(reasons, ['error'], 'the session ends once, as error')
  t.equal(link.sessionCount, 0, 'its connection ID is forgotten')
  t.equal(link.status, 'ready', 'the link stays up')
})
