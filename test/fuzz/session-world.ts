// One BOSH session (lib/bosh/session.ts, through its registry) with a fake
// clock, a recording upstream in place of the link, and a client that keeps
// track of every HTTP request it made: the world the session commands of
// session-properties.ts act on, and the invariants checked after each.
import { Registry } from '../../lib/bosh/registry.js'
import type { RequestBody } from '../../lib/bosh/body.js'
import { MAX_PENDING_OUTPUT_BYTES } from '../../lib/bosh/constants.js'
import { keepCount } from '../../lib/bosh/retransmission.js'
import type { Session } from '../../lib/bosh/session.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { RecordingUpstream } from '../helpers/recording-upstream.js'
import type { Coverage } from './coverage.js'

export const OPEN_HEADER = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='stream-1' version='1.0'/>"
export const FEATURES = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
export const CREATION_RID = 1000

/** What the session negotiates, drawn per run. */
export interface WorldConfig {
  hold: number
  acks: boolean
  ridSlack: number
  strictRequests: boolean
  waitSeconds: number
  inactivitySeconds: number
  maxPauseSeconds: number
  pollingSeconds: number
  /** ejabberd opens the stream before the first command (else a command must). */
  openAtStart: boolean
}

/** One HTTP request, as the client and the route see it. */
export interface Call {
  rid: number
  answers: string[]
  /** The client's connection closed before an answer: the route told the session (abandon). */
  dropped: boolean
  /** The client gave up on it without the server knowing (it then sent the rid again). */
  gone: boolean
  respond: (body: string) => void
  /** Of the first answer, read once: whether it ends the session, and ejabberd's elements in it by number. */
  terminal: boolean
  elements: number[]
}

const silent = { debug () {}, info () {}, warn () {}, error () {} }
const SERVER_ID = /id='s(\d+)'/g
const CLIENT_ID = /id='c(\d+)\.(\d+)'/
const TERMINATE = /^<body [^>]*type='terminate'/
const CONDITION = /condition='([a-z-]+)'/

export class World {
  readonly cfg: WorldConfig
  readonly cov: Coverage
  readonly clock = new FakeClock()
  readonly up = new RecordingUpstream()
  readonly registry: Registry
  readonly calls: Call[] = []
  /** Bodies the client sent, by rid: a retransmission sends the same again. */
  readonly bodies = new Map<number, RequestBody>()
  /** The lowest rid the client has not sent yet. */
  lowestUnsent = CREATION_RID + 1
  highestSent = CREATION_RID
  /** Elements ejabberd has sent, numbered. */
  delivered = 0
  sid = ''
  id = 0
  steps = 0
  #deferred: Array<() => void> = []
  #upstreamChecked = 0
  #lastForwarded: [number, number] = [0, -1]
  #session: Session | null = null

  constructor (cfg: WorldConfig, cov: Coverage) {
    this.cfg = cfg
    this.cov = cov
    this.registry = new Registry({
      domains: ['localhost'],
      maxWaitSeconds: cfg.waitSeconds,
      maxHold: cfg.hold,
      inactivitySeconds: cfg.inactivitySeconds,
      maxPauseSeconds: cfg.maxPauseSeconds,
      pollingSeconds: cfg.pollingSeconds,
      maxSessions: 1,
      ridSlack: cfg.ridSlack,
      strictRequests: cfg.strictRequests,
      upstream: this.up,
      log: silent,
      clock: this.clock,
      defer: (fn) => { this.#deferred.push(fn) }
    })
    const creation: RequestBody = {
      rid: CREATION_RID,
      attrs: { rid: String(CREATION_RID), to: 'localhost', wait: String(cfg.waitSeconds), hold: String(cfg.hold), ver: '1.6', ...(cfg.acks ? { ack: '1' } : {}) },
      payload: []
    }
    this.#send(creation)
    this.bodies.set(CREATION_RID, creation)
    const session = this.#session
    if (session === null) throw new Error('session not created')
    this.sid = session.sid
    this.id = [...this.up.sessions.keys()].at(-1) ?? 0
    if (cfg.openAtStart) {
      this.fromEjabberd(OPEN_HEADER)
      this.fromEjabberd(FEATURES)
    }
    this.settle()
    this.check()
  }

  /** The session while the registry still has it. */
  get session (): Session | undefined { return this.registry.get(this.sid) }

  /** Whether the client has its sid: the creation request was answered. */
  get knowsSid (): boolean { return (this.calls[0]?.answers.length ?? 0) > 0 }

  /**
   * A request with this rid: the body sent before for it, or a new one. None
   * before the creation's answer: until then the client has no sid to send.
   */
  request (rid: number, make: () => RequestBody): Call | null {
    if (!this.knowsSid) {
      this.cov.count('request', 'none yet: no sid')
      return null
    }
    const known = this.bodies.get(rid)
    if (known !== undefined) {
      // A retransmission: the client gave up on its earlier copies.
      for (const c of this.calls) if (c.rid === rid) c.gone = true
      this.cov.count('request', 'retransmission')
      return this.#send(known)
    }
    const body = make()
    this.bodies.set(rid, body)
    if (rid === this.lowestUnsent) while (this.bodies.has(this.lowestUnsent)) this.lowestUnsent++
    this.highestSent = Math.max(this.highestSent, rid)
    return this.#send(body)
  }

  /** A request with a rid the client never means to fill in (below the session's first, or far ahead). */
  stray (rid: number): Call | null {
    if (!this.knowsSid) return null
    return this.#send({ rid, attrs: { rid: String(rid) }, payload: [] })
  }

  #send (body: RequestBody): Call {
    const call: Call = {
      rid: body.rid,
      answers: [],
      dropped: false,
      gone: false,
      terminal: false,
      elements: [],
      respond: (xml) => {
        if (call.dropped) throw new Error(`rid ${call.rid} answered after its client dropped it`)
        call.answers.push(xml)
        if (call.answers.length > 1) throw new Error(`rid ${call.rid} answered twice`)
        call.terminal = TERMINATE.test(xml)
        for (const m of xml.matchAll(SERVER_ID)) call.elements.push(Number(m[1]))
      }
    }
    this.calls.push(call)
    const session = this.registry.handle({ ...body, attrs: { ...body.attrs, ...(this.sid === '' ? {} : { sid: this.sid }) } }, call.respond, '192.0.2.1', 1234)
    this.#session ??= session
    return call
  }

  /** The route's close handler: the client dropped an unanswered request. */
  drop (call: Call): void {
    call.dropped = true
    this.#session?.abandon(call.respond)
  }

  /** ejabberd writes one frame for the session's connection ID. */
  fromEjabberd (xml: string): void { this.up.deliver(this.id, xml) }

  /** A new element from ejabberd, numbered so the client can tell it came once and in order. */
  deliverElement (padding = 0): void {
    this.fromEjabberd(`<message xmlns='jabber:client' id='s${this.delivered++}'>${'x'.repeat(padding)}</message>`)
  }

  /** Runs what the session deferred (the microtasks after a batch of link frames), bounded. */
  settle (): void {
    for (let guard = 0; this.#deferred.length > 0; guard++) {
      if (guard > 1000) throw new Error('deferred work never settles')
      const fn = this.#deferred.shift() as () => void
      fn()
    }
  }

  /** The invariants, after every step. */
  check (): void {
    this.steps++
    const s = this.session
    const requests = this.cfg.hold + 1
    if (s !== undefined) {
      this.cov.count('session state after a step', s.state)
      this.cov.max('held requests', s.heldCount)
      this.cov.max('queued requests', s.queuedCount)
      this.cov.max('kept responses', s.keptCount)
      this.cov.max('pending output bytes', s.pendingOutputBytes)
      // XEP-0124 8: never more than `hold` held.
      if (s.heldCount > this.cfg.hold) throw new Error(`${s.heldCount} requests held, hold is ${this.cfg.hold}`)
      // XEP-0124 14.2 (and the slack past the window, one more to pause or terminate).
      if (s.queuedCount > requests + this.cfg.ridSlack + 1) throw new Error(`${s.queuedCount} requests queued past a gap`)
      // XEP-0124 14.3: responses kept for retransmission only within the window.
      if (s.keptCount > keepCount(requests, this.cfg.acks)) throw new Error(`${s.keptCount} responses kept`)
      if (s.pendingOutputBytes > MAX_PENDING_OUTPUT_BYTES) throw new Error(`${s.pendingOutputBytes} bytes of output waiting`)
    } else {
      this.cov.count('session state after a step', 'ended')
      // Once ended: every request answered, and nothing left to run but the
      // wait for ejabberd's close of a terminated stream.
      for (const c of this.calls) {
        if (!c.dropped && c.answers.length !== 1) throw new Error(`session ended with rid ${c.rid} unanswered`)
      }
      const closing = this.up.sessions.has(this.id) ? 1 : 0
      if (this.clock.pending > closing) throw new Error(`session ended with ${this.clock.pending} timers pending`)
    }
    this.#checkUpstream()
    this.#checkClient()
  }

  /** XEP-0124 14.2: the client's elements reach ejabberd in rid order, each once (read on from where the last check stopped). */
  #checkUpstream (): void {
    const sent = this.up.sent
    for (; this.#upstreamChecked < sent.length; this.#upstreamChecked++) {
      const [id, content] = sent[this.#upstreamChecked] as [number, string]
      const m = id === this.id ? CLIENT_ID.exec(content) : null
      if (m === null) continue
      const at: [number, number] = [Number(m[1]), Number(m[2])]
      const last = this.#lastForwarded
      if (at[0] < last[0] || (at[0] === last[0] && at[1] <= last[1])) {
        throw new Error(`element c${at[0]}.${at[1]} forwarded after c${last[0]}.${last[1]}`)
      }
      this.#lastForwarded = at
    }
  }

  /**
   * What the client got: each rid's first answer on a connection it kept,
   * the same terminate body once. ejabberd's elements must come in the order
   * sent, each once; a retransmission gets the first answer again, byte for
   * byte (XEP-0124 14.3), unless the session has ended since.
   */
  #checkClient (): void {
    const firstAnswer = new Map<number, string>()
    const received = new Map<number, Call>()
    for (const c of this.calls) {
      const answer = c.answers[0]
      if (answer === undefined) continue
      const first = firstAnswer.get(c.rid)
      if (first === undefined) firstAnswer.set(c.rid, answer)
      // An empty body answers a copy the client replaced; anything else is the same answer again.
      else if (answer !== first && !c.terminal && answer !== EMPTY && first !== EMPTY) {
        throw new Error(`rid ${c.rid} answered differently the second time`)
      }
      if (!c.gone && !c.dropped && !received.has(c.rid)) received.set(c.rid, c)
    }
    // XEP-0124 14.2: the client reads the answers in rid order; the
    // terminate body ends the session whatever its rid, so it comes last.
    const inOrder = [...received.values()].sort((a, b) => Number(a.terminal) - Number(b.terminal) || a.rid - b.rid)
    const seenTerminates = new Set<string>()
    let last = -1
    for (const c of inOrder) {
      const answer = c.answers[0] as string
      if (c.terminal && seenTerminates.has(answer)) continue
      if (c.terminal) seenTerminates.add(answer)
      for (const n of c.elements) {
        if (n <= last) throw new Error(`element s${n} reached the client after s${last}`)
        last = n
      }
    }
  }

  /** Counts how the session ended, from the terminate bodies the client got. */
  recordEnd (): void {
    const end = this.calls.map((c) => c.answers[0]).find((a) => a !== undefined && TERMINATE.test(a))
    this.cov.count('session end', end === undefined ? 'none' : CONDITION.exec(end)?.[1] ?? 'normal')
  }

  /**
   * The client, as XEP-0124 14.3 asks, sends again every rid it has no
   * answer for (its connection dropped, or it gave up on it) and fills every
   * gap it left; then time passes beyond every timeout. Every request it did
   * not drop is answered exactly once, the elements of every request
   * answered reached ejabberd, and the session ends with nothing left behind.
   */
  quiesce (): void {
    for (let rid = CREATION_RID + 1; rid <= this.highestSent; rid++) {
      const live = this.calls.some((c) => c.rid === rid && !c.dropped && !c.gone)
      if (live) continue
      this.cov.count('request', rid < this.lowestUnsent ? 'resent at the end' : 'gap filled at the end')
      this.request(rid, () => ({ rid, attrs: { rid: String(rid) }, payload: [] }))
      this.settle()
      this.check()
    }
    const longest = Math.max(this.cfg.waitSeconds, this.cfg.inactivitySeconds, this.cfg.maxPauseSeconds) * 1000 + 60_000
    for (let i = 0; i < 4; i++) {
      this.clock.advance(longest)
      this.settle()
      this.check()
    }
    if (this.session !== undefined) throw new Error(`session still there in state ${this.session.state} after every timeout`)
    if (this.clock.pending > 0) throw new Error(`${this.clock.pending} timers pending after the end`)
    if (this.up.sessions.has(this.id)) throw new Error('connection ID still open on the link after the end')
    const forwarded = new Set(this.up.contents(this.id))
    for (const c of this.calls) {
      const answer = c.answers[0]
      // Only answers the client took: an empty body to a copy it replaced says nothing.
      if (answer === undefined || c.gone || c.dropped || TERMINATE.test(answer)) continue
      for (const el of this.bodies.get(c.rid)?.payload ?? []) {
        if (!forwarded.has(el)) throw new Error(`rid ${c.rid} was answered but its element never reached ejabberd`)
      }
    }
    this.recordEnd()
    this.cov.max('commands in one sequence', this.steps)
  }
}

const EMPTY = "<body xmlns='http://jabber.org/protocol/httpbind'/>"
