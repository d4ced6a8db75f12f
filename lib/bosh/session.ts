// One BOSH session (XEP-0124, XEP-0206) as a state machine over an injected
// clock and an upstream (the link). No HTTP, no sockets: the route hands in
// parsed requests with a function that answers each one, exactly once.
//
//   opening --(stream header + features from ejabberd)--> open
//   opening | open --(terminate from client, inactivity, ejabberd's close or
//                     stream error, link lost, rid outside the window)--> closed
//
// Requests enter in any order within the rid window, are processed strictly
// in rid order (XEP-0124 14.2), then held until data for the client arrives,
// `wait` expires, or more than `hold` are held (8). Responses are kept for
// retransmission until the client has acknowledged them (9, 14.3).
import assert from 'node:assert'
import type { BaseLogger } from 'pino'

/** The logger methods sessions use; Fastify's pino child satisfies it. */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>
import { BoshCondition, BoshError, MegaphoneError, ErrorCode } from '../errors.js'
import { parseElement } from '../xml.js'
import { boolAttr, uintAttr, type RequestBody } from './body.js'
import type { Clock, Timer } from './clock.js'
import type { LinkSession } from '../link/link.js'
import { MAX_PENDING_OUTPUT_BYTES, MAX_REPORT_TIME_MS, NS_FRAMING, NS_XBOSH, STREAM_CLOSE_TIMEOUT_MS, STREAM_OPEN_TIMEOUT_MS, XMPP_VERSION } from './constants.js'
import { EMPTY_BODY, formatBody, terminateBody, type BodyAttrs } from './response.js'
import { createHash } from 'node:crypto'

/** Answers one HTTP request with a complete body. Called at most once per request. */
export type Respond = (body: string) => void

/** What a session needs of the link; `Link` satisfies it. */
export interface Upstream {
  open (session: LinkSession, ip: string, port: number): number
  send (id: number, content: string): boolean
  end (id: number, reason?: string): void
}

/** Shared by every session of one registry: one object, not one per session. */
export interface SessionContext {
  upstream: Upstream
  clock: Clock
  log: Log
  /** The session is over and answered everything it will answer: forget it. */
  onEnd (session: Session): void
  /** The session closed, for metrics: with its terminal condition, or null for a normal end. */
  onClose (condition: BoshCondition | null): void
  /** Schedules a function after the current batch of link frames (queueMicrotask). */
  defer (fn: () => void): void
}

/**
 * Negotiated at creation (XEP-0124 7.1, 7.2). The same for most sessions, so
 * the registry shares one frozen object between all sessions that agree.
 */
export interface SessionParams {
  domain: string
  lang: string
  ver: string
  waitSeconds: number
  hold: number
  inactivitySeconds: number
  maxPauseSeconds: number
  pollingSeconds: number
  contentType: string
  acks: boolean
}

interface Held {
  rid: number
  respond: Respond
  timer: Timer | null
}

interface Sent {
  rid: number
  body: string
  at: number
}

export type SessionState = 'opening' | 'open' | 'closed'

export class Session implements LinkSession {
  readonly sid: string
  readonly contentType: string
  #p: SessionParams
  #ctx: SessionContext
  #state: SessionState = 'opening'
  #id = 0
  /** Highest rid processed: every rid up to it has been forwarded, in order. */
  #rid: number
  /** Requests that arrived ahead of a gap in the rids, by rid (XEP-0124 14.2). */
  #ahead: Map<number, { body: RequestBody, respond: Respond }> | null = null
  // Arrays below are replaced, never pushed to: a pushed array reserves 17
  // slots, and an idle session keeps its arrays for hours.
  /** Held requests, oldest (lowest rid) first. */
  #held: Held[] = NONE
  /** Elements from ejabberd not yet delivered, and their length in UTF-16 units. */
  #out: string[] = NONE
  #outBytes = 0
  #flushQueued = false
  /** Responses kept for retransmission, oldest first (XEP-0124 14.3). */
  #sent: Sent[] = NONE
  /** The answer to every request once the session is closed. */
  #final: string | null = null
  #inactivityTimer: Timer | null = null
  #openTimer: Timer | null = null
  /** After the client's terminate: until ejabberd has closed the stream too. */
  #closeTimer: Timer | null = null
  #creation: Respond | null
  #authid = ''
  #lastEmptyAt = -Infinity
  #key: string | null
  #ended = false

  /** `key`: XEP-0124 15, the client's first key when it protects the session with a key sequence. */
  constructor (sid: string, params: SessionParams, key: string | null, rid: number, respond: Respond, ctx: SessionContext) {
    this.sid = sid
    this.contentType = params.contentType
    this.#p = params
    this.#ctx = ctx
    this.#rid = rid
    this.#creation = respond
    this.#key = key
  }

  get state (): SessionState { return this.#state }
  /** Requests held right now (for tests and metrics). */
  get heldCount (): number { return this.#held.length }
  /** Requests waiting for a gap in the rids to fill (for tests and metrics). */
  get queuedCount (): number { return this.#ahead?.size ?? 0 }

  /** XEP-0124 7.1: opens the stream to ejabberd; the creation request is answered once it is up. */
  start (ip: string, port: number): void {
    try {
      this.#id = this.#ctx.upstream.open(this, ip, port)
    } catch (err) {
      if (!(err instanceof MegaphoneError)) throw err
      this.#ctx.log.warn({ sid: this.sid, code: err.code }, 'cannot open session on the link')
      this.#close(BoshCondition.REMOTE_CONNECTION_FAILED, 'error')
      return
    }
    this.#openStream()
    this.#openTimer = this.#ctx.clock.setTimeout(() => {
      this.#openTimer = null
      this.#ctx.log.warn({ sid: this.sid }, 'ejabberd did not open the stream in time')
      this.#close(BoshCondition.REMOTE_CONNECTION_FAILED, 'timeout')
    }, STREAM_OPEN_TIMEOUT_MS)
  }

  /** One request for this session, in whatever order it arrived. */
  handle (body: RequestBody, respond: Respond): void {
    if (this.#final !== null) {
      this.#answerClosed(respond)
      return
    }
    const { rid } = body
    if (rid <= this.#rid) {
      this.#retransmit(rid, respond)
      return
    }
    // XEP-0124 14.3: a rid beyond the window of `requests` is an error;
    // 11: one more is allowed when it pauses or terminates the session.
    const extra = body.attrs.type === 'terminate' || body.attrs.pause !== undefined ? 1 : 0
    if (rid > this.#rid + this.#requests + extra) {
      this.#refuse(BoshCondition.ITEM_NOT_FOUND, 'rid beyond the window', respond)
      return
    }
    this.#clearInactivity()
    if (rid !== this.#rid + 1) {
      // XEP-0124 14.2: hold it until the requests before it have arrived.
      this.#ahead ??= new Map()
      this.#ahead.get(rid)?.respond(EMPTY_BODY)
      this.#ahead.set(rid, { body, respond })
      return
    }
    this.#process(body, respond)
    while (this.#ahead !== null && this.#final === null) {
      const next = this.#ahead.get(this.#rid + 1)
      if (next === undefined) break
      this.#ahead.delete(this.#rid + 1)
      if (this.#ahead.size === 0) this.#ahead = null
      this.#process(next.body, next.respond)
    }
  }

  /** The client dropped the connection of a request that was not answered yet. */
  abandon (respond: Respond): void {
    const i = this.#held.findIndex((h) => h.respond === respond)
    if (i !== -1) {
      const held = this.#held[i] as Held
      this.#held = without(this.#held, i)
      if (held.timer !== null) this.#ctx.clock.clearTimeout(held.timer)
    } else if (this.#ahead !== null) {
      for (const [rid, entry] of this.#ahead) if (entry.respond === respond) this.#ahead.delete(rid)
      if (this.#ahead.size === 0) this.#ahead = null
    } else if (this.#creation === respond) {
      this.#creation = null
    }
    this.#armInactivity()
  }

  /** Ends the session from Megaphone's side, e.g. on shutdown. */
  shutdown (condition: BoshCondition): void {
    this.#close(condition, 'shutdown')
  }

  // --- from the link -------------------------------------------------------

  onLinkFrame (content: Buffer): void {
    if (this.#state === 'closed') return
    const xml = content.toString('utf8')
    if (xml.startsWith('<open')) {
      this.#onStreamOpen(xml)
    } else if (xml.startsWith('<close')) {
      // RFC 7395 3.6: ejabberd closed the stream; a normal end.
      this.#close(null, 'closed')
    } else if (xml.startsWith('<stream:error')) {
      // XEP-0206 8.4 / XEP-0124 17.2: the stream error goes to the client inside the terminate body.
      this.#queue(xml)
      this.#close(BoshCondition.REMOTE_STREAM_ERROR, 'closed')
    } else {
      this.#queue(xml)
      if (this.#outBytes > MAX_PENDING_OUTPUT_BYTES) {
        // A client that stopped polling while ejabberd keeps sending (a busy
        // room, say) must not grow this process without bound.
        this.#ctx.log.warn({ sid: this.sid, bytes: this.#outBytes }, 'client not collecting its output; session terminated')
        this.#out = NONE
        this.#outBytes = 0
        this.#close(BoshCondition.POLICY_VIOLATION, 'error')
        return
      }
      if (this.#creation !== null && xml.startsWith('<stream:features')) {
        this.#answerCreation()
      } else {
        this.#queueFlush()
      }
    }
  }

  /** Output waiting for a request. Pushed while there is some (an idle session holds the shared empty array). */
  #queue (xml: string): void {
    if (this.#out === NONE) this.#out = [xml]
    else this.#out.push(xml)
    this.#outBytes += xml.length
  }

  onLinkClose (reason: string): void {
    this.#id = 0
    if (this.#closeTimer !== null) this.#ctx.clock.clearTimeout(this.#closeTimer)
    this.#closeTimer = null
    if (this.#state === 'closed') return
    this.#ctx.log.info({ sid: this.sid, reason }, 'session closed on the link')
    this.#close(reason === 'normal' ? null : reason === 'shutdown' ? BoshCondition.SYSTEM_SHUTDOWN : BoshCondition.REMOTE_CONNECTION_FAILED, 'closed')
  }

  // --- request processing ---------------------------------------------------

  get #requests (): number { return this.#p.hold + 1 }

  #process (body: RequestBody, respond: Respond): void {
    try {
      this.#processInOrder(body, respond)
    } catch (err) {
      // A malformed attribute (ack, pause) ends the session like any bad request.
      if (!(err instanceof BoshError)) throw err
      this.#refuse(err.condition, err.reason, respond)
    }
  }

  #processInOrder (body: RequestBody, respond: Respond): void {
    // XEP-0124 15.4: with a key sequence, each new request's key hashes to the
    // previous one; checked in rid order, so requests that came early wait their turn.
    if (this.#key !== null && !this.#checkKey(body)) {
      this.#refuse(BoshCondition.ITEM_NOT_FOUND, 'wrong key', respond)
      return
    }
    const { attrs } = body
    // Numbers first: a malformed one throws before anything has changed.
    const ack = this.#p.acks && attrs.ack !== undefined ? uintAttr(attrs, 'ack', 0) : null
    const pause = attrs.pause === undefined ? null : uintAttr(attrs, 'pause', 0)
    this.#rid = body.rid
    if (ack !== null) this.#onAck(ack)

    // XEP-0124 12: a polling session must not send empty requests more often than `polling`.
    const empty = body.payload.length === 0 && attrs.type === undefined && attrs.pause === undefined && !boolAttr(attrs, 'xmpp:restart')
    if (empty && this.#p.hold === 0) {
      const now = this.#ctx.clock.now()
      const tooSoon = now - this.#lastEmptyAt < this.#p.pollingSeconds * 1000
      this.#lastEmptyAt = now
      if (tooSoon) {
        this.#refuse(BoshCondition.POLICY_VIOLATION, 'polling too often', respond)
        return
      }
    }

    // XEP-0206 5: a restart request carries no payload.
    if (boolAttr(attrs, 'xmpp:restart')) {
      if (body.payload.length > 0) {
        this.#refuse(BoshCondition.BAD_REQUEST, 'restart request with payload', respond)
        return
      }
      this.#openStream()
    }

    for (const element of body.payload) {
      if (!this.#forward(element)) {
        this.#answerClosed(respond)
        return
      }
    }

    // XEP-0124 13: terminate forwards the payload, then ends the stream.
    if (attrs.type === 'terminate') {
      this.#held = appended(this.#held, { rid: body.rid, respond, timer: null })
      this.#ctx.log.debug({ sid: this.sid }, 'terminated by the client')
      this.#close(null, 'terminate')
      return
    }

    const held: Held = { rid: body.rid, respond, timer: null }
    this.#held = appended(this.#held, held)

    // XEP-0124 10: pause answers everything now and stretches inactivity.
    if (pause !== null) {
      if (pause > this.#p.maxPauseSeconds) {
        this.#close(BoshCondition.POLICY_VIOLATION, 'error')
        return
      }
      while (this.#held.length > 0) this.#answerOldest()
      this.#armInactivity(pause)
      return
    }

    if (this.#state === 'open' && this.#out.length > 0) this.#answerOldest()
    // XEP-0124 8: never hold more than `hold` requests.
    while (this.#held.length > this.#p.hold) this.#answerOldest()
    if (this.#held.includes(held)) {
      held.timer = this.#ctx.clock.setTimeout(() => this.#expire(held), this.#p.waitSeconds * 1000)
    }
  }

  #forward (element: string): boolean {
    try {
      this.#ctx.upstream.send(this.#id, element)
      return true
    } catch (err) {
      if (!(err instanceof MegaphoneError)) throw err
      this.#ctx.log.warn({ sid: this.sid, code: err.code }, 'cannot forward to ejabberd')
      this.#close(err.code === ErrorCode.LINK_FRAME_TOO_LARGE ? BoshCondition.POLICY_VIOLATION : BoshCondition.REMOTE_CONNECTION_FAILED, 'error')
      return false
    }
  }

  #retransmit (rid: number, respond: Respond): void {
    const sent = this.#sent.find((s) => s.rid === rid)
    if (sent !== undefined) {
      // XEP-0124 14.3: the same response again, byte for byte.
      respond(sent.body)
      return
    }
    const held = this.#held.find((h) => h.rid === rid)
    if (held !== undefined) {
      // The client gave up on the first copy's connection; answer on the new one.
      const old = held.respond
      held.respond = respond
      old(EMPTY_BODY)
      return
    }
    this.#refuse(BoshCondition.ITEM_NOT_FOUND, 'rid already answered and no longer buffered', respond)
  }

  /** XEP-0124 9.2: the client has every response up to `ack`. */
  #onAck (ack: number): void {
    const keep = this.#sent.findIndex((s) => s.rid > ack)
    this.#sent = keep === -1 ? NONE : this.#sent.slice(keep)
  }

  #checkKey (body: RequestBody): boolean {
    const key = body.attrs.key
    if (key === undefined || createHash('sha1').update(key).digest('hex') !== this.#key) return false
    this.#key = body.attrs.newkey ?? key
    return true
  }

  // --- answering -------------------------------------------------------------

  #queueFlush (): void {
    if (this.#flushQueued || this.#state !== 'open') return
    this.#flushQueued = true
    this.#ctx.defer(() => {
      this.#flushQueued = false
      if (this.#out.length > 0 && this.#held.length > 0 && this.#final === null) this.#answerOldest()
    })
  }

  #answerOldest (): void {
    const held = this.#held[0]
    assert(held !== undefined)
    this.#held = without(this.#held, 0)
    let payload = ''
    if (this.#state === 'open') {
      payload = this.#out.join('')
      this.#out = NONE
      this.#outBytes = 0
    }
    const attrs: Array<readonly [string, string | number]> = []
    if (this.#p.acks) {
      // XEP-0124 9.1: acknowledge the highest rid received when answering an older one.
      if (held.rid < this.#rid) attrs.push(['ack', this.#rid])
      const report = this.#report()
      if (report !== null) attrs.push(...report)
    }
    this.#answer(held, attrs.length === 0 && payload === '' ? EMPTY_BODY : formatBody(attrs, payload))
  }

  /** XEP-0124 9.2: a response the client should have by now but has not acknowledged. */
  #report (): BodyAttrs | null {
    // The client cannot have sent the newest rid before it had every response
    // up to `requests` below it; one it has not acknowledged was lost.
    const oldest = this.#sent[0]
    if (oldest === undefined || oldest.rid > this.#rid - this.#requests) return null
    const time = Math.min(MAX_REPORT_TIME_MS, this.#ctx.clock.now() - oldest.at)
    return [['report', oldest.rid], ['time', time]]
  }

  #answer (held: Held, body: string): void {
    if (held.timer !== null) this.#ctx.clock.clearTimeout(held.timer)
    // A retransmission can only ask for a rid within the window; with acks the
    // client's ack trims sooner, and a little more is kept to report a loss.
    const keep = this.#p.acks ? 2 * this.#requests + 1 : this.#requests
    this.#sent = appended(this.#sent, { rid: held.rid, body, at: this.#ctx.clock.now() }).slice(-keep)
    held.respond(body)
    this.#armInactivity()
  }

  #expire (held: Held): void {
    held.timer = null
    const i = this.#held.indexOf(held)
    if (i === -1) return
    this.#held = [held, ...without(this.#held, i)]
    this.#answerOldest()
  }

  #refuse (condition: BoshCondition, reason: string, respond: Respond): void {
    this.#ctx.log.info({ sid: this.sid, condition, reason }, 'request refused; session terminated')
    this.#close(condition, 'error')
    this.#answerClosed(respond)
  }

  #answerClosed (respond: Respond): void {
    respond(this.#final ?? terminateBody(BoshCondition.ITEM_NOT_FOUND))
    this.#end()
  }

  // --- stream ----------------------------------------------------------------

  #openStream (): void {
    // RFC 7395 3.3.2 framing of the stream header; XEP-0206 3 and 5 (restart).
    const lang = this.#p.lang === '' ? '' : ` xml:lang='${escapeAttr(this.#p.lang)}'`
    this.#forward(`<open xmlns='${NS_FRAMING}' to='${escapeAttr(this.#p.domain)}' version='1.0'${lang}/>`)
  }

  #onStreamOpen (xml: string): void {
    if (this.#authid !== '') return
    try {
      // A copy: a substring of the frame would keep all of it alive (see registry.ts own()).
      this.#authid = Buffer.from(parseElement(xml).attrs.id ?? '', 'utf8').toString('utf8')
    } catch {
      this.#ctx.log.error({ sid: this.sid }, 'unparsable stream header from ejabberd')
    }
  }

  /** XEP-0124 7.2 and XEP-0206 3: the session creation response, with the stream features. */
  #answerCreation (): void {
    const respond = this.#creation
    if (respond === null) return
    this.#creation = null
    if (this.#openTimer !== null) this.#ctx.clock.clearTimeout(this.#openTimer)
    this.#openTimer = null
    this.#state = 'open'
    const p = this.#p
    const attrs: Array<readonly [string, string | number]> = [
      ['sid', this.sid], ['wait', p.waitSeconds], ['requests', this.#requests], ['hold', p.hold],
      ['inactivity', p.inactivitySeconds], ['polling', p.pollingSeconds], ['maxpause', p.maxPauseSeconds],
      ['ver', p.ver], ['from', p.domain], ['authid', this.#authid],
      ['xmlns:xmpp', NS_XBOSH], ['xmpp:version', XMPP_VERSION], ['xmpp:restartlogic', 'true']
    ]
    if (p.acks) attrs.push(['ack', this.#rid])
    const body = formatBody(attrs, this.#out.join(''))
    this.#out = NONE
    this.#outBytes = 0
    this.#sent = [{ rid: this.#rid, body, at: this.#ctx.clock.now() }]
    respond(body)
    this.#armInactivity()
  }

  // --- ending ---------------------------------------------------------------

  /** Ends the stream and the link session once; every held request gets the terminate body. */
  /**
   * `how` the session ends on the link: only the client's own terminate closes
   * the XMPP stream (a clean end); anything else just ends the connection ID,
   * which ejabberd's c2s sees as a lost connection, so that a client using
   * XEP-0198 can resume its stream in a new session.
   */
  #close (condition: BoshCondition | null, how: 'terminate' | 'closed' | 'timeout' | 'error' | 'shutdown'): void {
    if (this.#final !== null) return
    const payload = this.#out.join('')
    this.#out = NONE
    this.#outBytes = 0
    this.#final = terminateBody(condition, payload)
    this.#state = 'closed'
    this.#ctx.onClose(condition)
    if (this.#openTimer !== null) this.#ctx.clock.clearTimeout(this.#openTimer)
    this.#openTimer = null
    if (this.#id !== 0 && how === 'terminate') {
      // RFC 7395 3.6: close the stream and let ejabberd end the connection ID
      // once it has read everything before the close. Ending the ID now would
      // stop the c2s with the terminate's own payload still in its mailbox.
      const id = this.#id
      try {
        this.#ctx.upstream.send(id, `<close xmlns='${NS_FRAMING}'/>`)
        this.#closeTimer = this.#ctx.clock.setTimeout(() => {
          this.#closeTimer = null
          if (this.#id === 0) return
          this.#id = 0
          this.#ctx.upstream.end(id, 'timeout')
        }, STREAM_CLOSE_TIMEOUT_MS)
      } catch {
        this.#id = 0
        this.#ctx.upstream.end(id, 'error')
      }
    } else if (this.#id !== 0) {
      const id = this.#id
      this.#id = 0
      this.#ctx.upstream.end(id, how === 'closed' ? 'normal' : how)
    }
    let answered = false
    if (this.#creation !== null) {
      this.#creation(this.#final)
      this.#creation = null
      answered = true
    }
    const allHeld = this.#held
    this.#held = NONE
    for (const held of allHeld) {
      if (held.timer !== null) this.#ctx.clock.clearTimeout(held.timer)
      held.respond(this.#final)
      answered = true
    }
    if (this.#ahead !== null) {
      for (const entry of this.#ahead.values()) entry.respond(this.#final)
      this.#ahead = null
      answered = true
    }
    this.#sent = NONE
    this.#clearInactivity()
    // The client learns of the end from a response; if none was open, the next request gets it.
    if (answered) this.#end()
    else this.#armInactivity()
  }

  #end (): void {
    this.#clearInactivity()
    if (this.#ended) return
    this.#ended = true
    this.#ctx.onEnd(this)
  }

  // --- inactivity --------------------------------------------------------------

  /** XEP-0124 10: with no request open, the session dies after `inactivity` (or the client's pause). */
  #armInactivity (seconds = this.#p.inactivitySeconds): void {
    if (this.#held.length > 0 || this.#ahead !== null || this.#creation !== null) return
    this.#clearInactivity()
    this.#inactivityTimer = this.#ctx.clock.setTimeout(() => {
      this.#inactivityTimer = null
      if (this.#final === null) this.#ctx.log.info({ sid: this.sid }, 'session inactive; terminated')
      this.#close(BoshCondition.ITEM_NOT_FOUND, 'timeout')
      this.#end()
    }, seconds * 1000)
  }

  #clearInactivity (): void {
    if (this.#inactivityTimer === null) return
    this.#ctx.clock.clearTimeout(this.#inactivityTimer)
    this.#inactivityTimer = null
  }
}

function escapeAttr (s: string): string {
  return s.replace(/[&<>'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The empty array every session starts with; never written to. */
const NONE: never[] = Object.freeze([]) as unknown as never[]

/** A copy of `list` with `item` at the end, exactly as long as it needs to be. */
function appended<T> (list: readonly T[], item: T): T[] {
  return [...list, item]
}

function without<T> (list: readonly T[], i: number): T[] {
  return list.length === 1 ? NONE : [...list.slice(0, i), ...list.slice(i + 1)]
}
