// One BOSH session (XEP-0124, XEP-0206) as a state machine over an injected
// clock and an upstream (the link). No HTTP, no sockets: the route hands in
// parsed requests with a function that answers each one, exactly once.
//
//   opening --(stream header + features from ejabberd)--> open
//   opening | open --(terminate from client, inactivity, ejabberd's close or
//                     stream error, link lost, rid outside the window)--> closed
//
// Requests enter in any order within the rid window (rid-window.ts), are
// processed strictly in rid order (XEP-0124 14.2), then held until data for
// the client arrives (output-buffer.ts), `wait` expires, or more than `hold`
// are held (8). Responses are kept for retransmission until the client has
// acknowledged them (retransmission.ts; 9, 14.3).
import assert from 'node:assert'
import type { BaseLogger } from 'pino'
import type { Clock, Timer } from '../clock.js'
import { BOSH_ERRORS, BoshError, ErrorCode, boshErrorCode, MegaphoneError, type BoshCause, type BoshCondition } from '../errors.js'
import type { CloseReason } from '../link/constants.js'
import { CLOSE_ELEMENT, frameKind, openElement, streamId } from '../link/framing.js'
import type { LinkSession, SessionEndReason } from '../link/link.js'
import { NONE, appended, without } from './arrays.js'
import { requestControls, type RequestBody } from './body.js'
import { MISSING_RID_GRACE_MS, NS_XBOSH, STREAM_CLOSE_TIMEOUT_MS, STREAM_OPEN_TIMEOUT_MS, TERMINATE_GAP_GRACE_MS, XMPP_VERSION } from './constants.js'
import { nextKey } from './key-sequence.js'
import { OutputBuffer } from './output-buffer.js'
import { EMPTY_BODY, formatBody, terminateBody, type BodyAttrs } from './response.js'
import { escapeXML } from '../xml.js'
import { REQUEST_CODINGS } from '../http/content-coding.js'
import { acknowledge, findSent, keepCount, pastWindow, remember, report, type Sent } from './retransmission.js'
import { AheadQueue, placeRid, type Respond } from './rid-window.js'

export type { Respond } from './rid-window.js'

/** The logger methods sessions use; Fastify's pino child satisfies it. */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>

/** What a session needs of the link; `Link` satisfies it. */
export interface Upstream {
  open (session: LinkSession, ip: string, port: number): number
  send (id: number, content: string): boolean
  end (id: number, reason?: CloseReason): void
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
  /**
   * XEP-0124 17.1: the creation request had no `ver` (a client older than
   * 1.6), so bad-request, policy-violation and item-not-found go to it as
   * the HTTP errors 400, 403 and 404.
   */
  legacy: boolean
  waitSeconds: number
  hold: number
  inactivitySeconds: number
  maxPauseSeconds: number
  pollingSeconds: number
  contentType: string
  acks: boolean
  /** Rids queued past the window (BoshConfig.ridSlack); 0 when strict. */
  ridSlack: number
  /** XEP-0124 11 to the letter: too many simultaneous requests end the session. */
  strictRequests: boolean
}

interface Held {
  rid: number
  respond: Respond
  timer: Timer | null
}

export type SessionState = 'opening' | 'open' | 'closed'

/** How a session's connection ID ends: `terminate` closes the XMPP stream first; a close reason just ends the ID. */
type LinkEnd = 'terminate' | CloseReason

export class Session implements LinkSession {
  readonly sid: string
  readonly contentType: string
  #p: SessionParams
  #ctx: SessionContext
  #state: SessionState = 'opening'
  #id = 0
  /** Highest rid processed: every rid up to it has been forwarded, in order. */
  #rid: number
  /** Requests that arrived ahead of a gap in the rids (XEP-0124 14.2). */
  #ahead: AheadQueue | null = null
  /** Bounds how long a terminate queued ahead of a gap waits for it. */
  #gapTimer: Timer | null = null
  /** Held requests, oldest (lowest rid) first; replaced, never pushed to (arrays.ts). */
  #held: Held[] = NONE
  /** Elements from ejabberd not yet delivered. */
  #out: OutputBuffer | null = null
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
  /** XEP-0124 15: the hash the next key must have, when the client uses a key sequence. */
  #key: string | null
  #ended = false

  /** `key`: XEP-0124 15, the client's first key when it protects the session with a key sequence. */
  /** XEP-0124 17.1: a client older than version 1.6 (SessionParams.legacy). */
  get legacy (): boolean { return this.#p.legacy }

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
  /** Responses kept for retransmission (for tests and metrics). */
  get keptCount (): number { return this.#sent.length }
  /** Output from ejabberd waiting for a request (for tests and metrics; UTF-16 units, about bytes). */
  get pendingOutputBytes (): number { return this.#out?.size ?? 0 }

  /** XEP-0124 7.1: opens the stream to ejabberd; the creation request is answered once it is up. */
  start (ip: string, port: number): void {
    try {
      this.#id = this.#ctx.upstream.open(this, ip, port)
    } catch (err) {
      if (!(err instanceof MegaphoneError)) throw err
      this.#ctx.log.warn({ sid: this.sid, code: err.code }, 'cannot open session on the link')
      this.#close('LINK_FAILED', 'error')
      return
    }
    this.#forward(openElement(this.#p.domain, this.#p.lang))
    this.#openTimer = this.#ctx.clock.setTimeout(() => {
      this.#openTimer = null
      this.#ctx.log.warn({ sid: this.sid }, 'ejabberd did not open the stream in time')
      this.#close('STREAM_TIMEOUT', 'timeout')
    }, STREAM_OPEN_TIMEOUT_MS)
  }

  /** One request for this session, in whatever order it arrived. */
  handle (body: RequestBody, respond: Respond): void {
    if (this.#final !== null) {
      this.#answerClosed(respond)
      return
    }
    const pausesOrTerminates = body.attrs.type === 'terminate' || body.attrs.pause !== undefined
    const place = placeRid(body.rid, this.#rid, this.#requests, this.#p.ridSlack, pausesOrTerminates)
    if (place === 'old') {
      this.#retransmit(body.rid, respond)
      return
    }
    // XEP-0124 11: the client may have at most `requests` requests open, one
    // more to pause or terminate. Strict mode ends the session as the XEP
    // suggests; otherwise the oldest held request is answered early (8),
    // below, and the session goes on.
    if (this.#p.strictRequests && this.#overactive(body.rid, pausesOrTerminates)) {
      this.#refuse('TOO_MANY_REQUESTS', respond)
      return
    }
    switch (place) {
      case 'beyond':
        // XEP-0124 14.2: a rid beyond the window of `requests` (and the slack) is an error.
        this.#refuse('RID_BEYOND_WINDOW', respond)
        return
      case 'ahead':
        // XEP-0124 14.2: hold it until the requests before it have arrived.
        this.#clearInactivity()
        this.#ahead ??= new AheadQueue()
        this.#ahead.put(body, respond, EMPTY_BODY)
        while (this.#held.length > 0 && this.#held.length + this.#ahead.size > this.#requests) this.#answerOldest()
        if (body.attrs.type === 'terminate') {
          // A terminate waits a short grace, whatever waited before it.
          this.#clearGapTimer()
          this.#gapTimer = this.#ctx.clock.setTimeout(() => { this.#giveUpGap() }, TERMINATE_GAP_GRACE_MS)
        } else if (this.#gapTimer === null) {
          this.#gapTimer = this.#ctx.clock.setTimeout(() => { this.#missingRidNeverCame() }, this.#p.waitSeconds * 1000 + MISSING_RID_GRACE_MS)
        }
        return
      case 'next':
        this.#clearInactivity()
        this.#process(body, respond)
    }
    this.#drainAhead()
  }

  /** Processes the queued requests that are now next in rid order. */
  #drainAhead (): void {
    for (let next = this.#ahead?.take(this.#rid + 1); next !== undefined && this.#final === null; next = this.#ahead?.take(this.#rid + 1)) {
      if (this.#ahead?.size === 0) this.#ahead = null
      this.#process(next.body, next.respond)
    }
    // The gap filled: its deadline goes with it (a later gap gets its own).
    if (this.#ahead === null) this.#clearGapTimer()
  }

  #clearGapTimer (): void {
    if (this.#gapTimer !== null) this.#ctx.clock.clearTimeout(this.#gapTimer)
    this.#gapTimer = null
  }

  /**
   * Requests wait ahead of a gap that the client has not filled well past its
   * own `wait` (MISSING_RID_GRACE_MS): the missing request is not coming, and
   * the ones after it cannot be forwarded out of order. The session ends with
   * item-not-found, as a lost network would end it, so a XEP-0198 client can
   * resume its stream in a new session.
   */
  #missingRidNeverCame (): void {
    this.#gapTimer = null
    if (this.#final !== null || this.#ahead === null) return
    this.#ctx.log.info({ sid: this.sid, rid: this.#rid + 1 }, 'requests waited for a missing rid that never came; ending the session')
    this.#close('RID_NEVER_CAME', 'timeout')
  }

  /** XEP-0124 11: whether this request would make more open at once than `requests` (one more to pause or terminate). */
  #overactive (rid: number, pausesOrTerminates: boolean): boolean {
    const ahead = this.#ahead
    const open = this.#held.length + (ahead?.size ?? 0) + (ahead?.has(rid) === true ? 0 : 1)
    return open > this.#requests + (pausesOrTerminates || ahead?.ends === true ? 1 : 0)
  }

  /**
   * The client asked to end the session but the requests before its terminate
   * have not come: process what did come, in rid order, skipping the missing
   * rids. The terminate among them ends the session.
   */
  #giveUpGap (): void {
    this.#gapTimer = null
    if (this.#final !== null) return
    this.#ctx.log.info({ sid: this.sid, rid: this.#rid + 1 }, 'terminate waited for missing requests; ending without them')
    for (let rid = this.#ahead?.lowest(); rid !== undefined && this.#final === null; rid = this.#ahead?.lowest()) {
      this.#rid = rid - 1
      this.#drainAhead()
    }
  }

  /** The client dropped the connection of a request that was not answered yet. */
  abandon (respond: Respond): void {
    const i = this.#held.findIndex((h) => h.respond === respond)
    if (i !== -1) {
      const held = this.#held[i] as Held
      this.#held = without(this.#held, i)
      if (held.timer !== null) this.#ctx.clock.clearTimeout(held.timer)
    } else if (this.#ahead?.drop(respond) === true) {
      if (this.#ahead.size === 0) {
        this.#ahead = null
        this.#clearGapTimer()
      }
    } else if (this.#creation === respond) {
      this.#creation = null
    }
    this.#armInactivity()
  }

  /**
   * Ends the session from Megaphone's side, e.g. on shutdown: with
   * system-shutdown, or (XEP-0124 17.2) see-other-uri and a <uri/> child
   * naming where the client can POST instead.
   */
  shutdown (seeOtherUri: string | null = null): void {
    if (seeOtherUri === null) this.#close('SHUTDOWN', 'shutdown')
    else this.#close('SEE_OTHER_URI', 'shutdown', `<uri>${escapeXML(seeOtherUri)}</uri>`)
  }

  // --- from the link -------------------------------------------------------

  onLinkFrame (content: Buffer): void {
    if (this.#state === 'closed') return
    const xml = content.toString('utf8')
    switch (frameKind(xml)) {
      case 'open':
        this.#onStreamOpen(xml)
        return
      case 'close':
        // RFC 7395 3.6: ejabberd closed the stream; a normal end.
        this.#close(null, 'normal')
        return
      case 'stream-error':
        // XEP-0206 8.4 / XEP-0124 17.2: the stream error goes to the client inside the terminate body.
        this.#queue(xml)
        this.#close('STREAM_ERROR', 'normal')
        return
      case 'features':
        if (!this.#queue(xml)) return
        if (this.#creation !== null) this.#answerCreation()
        else this.#queueFlush()
        return
      case 'element':
        if (this.#queue(xml)) this.#queueFlush()
    }
  }

  onLinkClose (reason: SessionEndReason): void {
    this.#id = 0
    if (this.#closeTimer !== null) this.#ctx.clock.clearTimeout(this.#closeTimer)
    this.#closeTimer = null
    if (this.#state === 'closed') return
    this.#ctx.log.info({ sid: this.sid, reason }, 'session closed on the link')
    this.#close(reason === 'normal' ? null : reason === 'shutdown' ? 'SHUTDOWN' : 'LINK_LOST', 'normal')
  }

  /** Output waiting for a request; false (and the session ended) when the client is not collecting it. */
  #queue (xml: string): boolean {
    this.#out ??= new OutputBuffer()
    if (this.#out.push(xml)) return true
    this.#ctx.log.warn({ sid: this.sid, bytes: this.#out.size }, 'client not collecting its output; session terminated')
    this.#out = null
    this.#close('OUTPUT_OVERFLOW', 'error')
    return false
  }

  /** Everything waiting for the client, taken out. */
  #takeOutput (): string {
    const payload = this.#out?.join() ?? ''
    this.#out = null
    return payload
  }

  // --- request processing ---------------------------------------------------

  get #requests (): number { return this.#p.hold + 1 }

  #process (body: RequestBody, respond: Respond): void {
    try {
      this.#processInOrder(body, respond)
    } catch (err) {
      // A malformed attribute (ack, pause) ends the session like any bad request.
      if (!(err instanceof BoshError)) throw err
      this.#refuse(err.kind, respond)
    }
  }

  #processInOrder (body: RequestBody, respond: Respond): void {
    // XEP-0124 15.4: with a key sequence, each new request's key hashes to the
    // previous one; checked in rid order, so requests that came early wait their turn.
    if (this.#key !== null) {
      const next = nextKey(this.#key, body.attrs.key, body.attrs.newkey)
      if (next === null) {
        this.#refuse('WRONG_KEY', respond)
        return
      }
      this.#key = next
    }
    // Numbers first: a malformed one throws before anything has changed.
    const controls = requestControls(body, this.#p.acks)
    this.#rid = body.rid
    // XEP-0124 9.2: the client has every response up to `ack`.
    if (controls.ack !== null) this.#sent = acknowledge(this.#sent, controls.ack)
    else if (!this.#p.acks) this.#sent = pastWindow(this.#sent, this.#rid, this.#requests)

    // XEP-0124 12: a polling session must not send empty requests more often than `polling`.
    if (controls.empty && this.#p.hold === 0) {
      const now = this.#ctx.clock.now()
      const tooSoon = now - this.#lastEmptyAt < this.#p.pollingSeconds * 1000
      this.#lastEmptyAt = now
      if (tooSoon) {
        this.#refuse('POLLING_TOO_OFTEN', respond)
        return
      }
    }

    // XEP-0206 5: a restart request carries no payload.
    if (controls.restart) {
      if (body.payload.length > 0) {
        this.#refuse('RESTART_WITH_PAYLOAD', respond)
        return
      }
      this.#forward(openElement(this.#p.domain, this.#p.lang))
    }

    for (const element of body.payload) {
      if (!this.#forward(element)) {
        this.#answerClosed(respond)
        return
      }
    }

    const held: Held = { rid: body.rid, respond, timer: null }
    this.#held = appended(this.#held, held)

    // XEP-0124 13: terminate forwards the payload, then ends the stream.
    if (controls.terminate) {
      this.#ctx.log.debug({ sid: this.sid }, 'terminated by the client')
      this.#close(null, 'terminate')
      return
    }

    // XEP-0124 10: pause answers everything now and stretches inactivity.
    if (controls.pause !== null) {
      if (controls.pause > this.#p.maxPauseSeconds) {
        this.#close('PAUSE_TOO_LONG', 'error')
        return
      }
      while (this.#held.length > 0) this.#answerOldest()
      this.#armInactivity(controls.pause)
      return
    }

    if (this.#state === 'open' && this.#out !== null) this.#answerOldest()
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
      this.#close(err.code === ErrorCode.LINK_FRAME_TOO_LARGE ? 'ELEMENT_TOO_LARGE' : 'LINK_LOST', 'error')
      return false
    }
  }

  #retransmit (rid: number, respond: Respond): void {
    const sent = findSent(this.#sent, rid)
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
    this.#refuse('RID_NOT_BUFFERED', respond)
  }

  // --- answering -------------------------------------------------------------

  #queueFlush (): void {
    if (this.#flushQueued || this.#state !== 'open') return
    this.#flushQueued = true
    this.#ctx.defer(() => {
      this.#flushQueued = false
      if (this.#out !== null && this.#held.length > 0 && this.#final === null) this.#answerOldest()
    })
  }

  #answerOldest (): void {
    const held = this.#held[0]
    assert(held !== undefined)
    this.#held = without(this.#held, 0)
    const payload = this.#state === 'open' ? this.#takeOutput() : ''
    const attrs: Array<BodyAttrs[number]> = []
    if (this.#p.acks) {
      // XEP-0124 9.1: acknowledge the highest rid received when answering an older one.
      if (held.rid < this.#rid) attrs.push(['ack', this.#rid])
      const lost = report(this.#sent, this.#rid, this.#requests, this.#ctx.clock.now())
      if (lost !== null) attrs.push(...lost)
    }
    this.#answer(held, attrs.length === 0 && payload === '' ? EMPTY_BODY : formatBody(attrs, payload))
  }

  #answer (held: Held, body: string): void {
    if (held.timer !== null) this.#ctx.clock.clearTimeout(held.timer)
    const entry = { rid: held.rid, body, at: this.#ctx.clock.now() }
    this.#sent = remember(this.#sent, entry, keepCount(this.#requests, this.#p.acks))
    if (!this.#p.acks) this.#sent = pastWindow(this.#sent, this.#rid, this.#requests)
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

  #refuse (cause: BoshCause, respond: Respond): void {
    const { condition, reason } = BOSH_ERRORS[cause]
    this.#ctx.log.info({ sid: this.sid, condition, reason, code: boshErrorCode(cause) }, 'request refused; session terminated')
    this.#close(cause, 'error')
    this.#answerClosed(respond)
  }

  #answerClosed (respond: Respond): void {
    respond(this.#final ?? terminateBody(BOSH_ERRORS.UNKNOWN_SID.condition))
    this.#end()
  }

  // --- stream ----------------------------------------------------------------

  #onStreamOpen (xml: string): void {
    if (this.#authid !== '') return
    try {
      // A copy: a substring of the frame would keep all of it alive (see registry.ts own()).
      this.#authid = Buffer.from(streamId(xml), 'utf8').toString('utf8')
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
    const attrs: Array<BodyAttrs[number]> = [
      ['sid', this.sid], ['wait', p.waitSeconds], ['requests', this.#requests], ['hold', p.hold],
      ['inactivity', p.inactivitySeconds], ['polling', p.pollingSeconds], ['maxpause', p.maxPauseSeconds],
      ['ver', p.ver], ['from', p.domain], ['authid', this.#authid],
      ['xmlns:xmpp', NS_XBOSH], ['xmpp:version', XMPP_VERSION], ['xmpp:restartlogic', 'true']
    ]
    if (p.acks) attrs.push(['ack', this.#rid])
    // XEP-0124 7.2: the content encodings Megaphone decompresses in requests (routes/http-bind.ts).
    attrs.push(['accept', REQUEST_CODINGS.join(' ')])
    const body = formatBody(attrs, this.#takeOutput())
    this.#sent = [{ rid: this.#rid, body, at: this.#ctx.clock.now() }]
    respond(body)
    this.#armInactivity()
  }

  // --- ending ---------------------------------------------------------------

  /**
   * Ends the session once; every request open gets the terminate body, with
   * the condition of `cause` (none for a normal end). `how` the session ends
   * on the link: only the client's own terminate closes the XMPP stream (a
   * clean end); anything else just ends the connection ID, which ejabberd's
   * c2s sees as a lost connection, so that a client using XEP-0198 can resume
   * its stream in a new session.
   */
  #close (cause: BoshCause | null, how: LinkEnd, extra = ''): void {
    if (this.#final !== null) return
    const condition = cause === null ? null : BOSH_ERRORS[cause].condition
    this.#final = terminateBody(condition, this.#takeOutput() + extra)
    this.#state = 'closed'
    this.#ctx.onClose(condition)
    if (this.#openTimer !== null) this.#ctx.clock.clearTimeout(this.#openTimer)
    this.#openTimer = null
    if (this.#gapTimer !== null) this.#ctx.clock.clearTimeout(this.#gapTimer)
    this.#gapTimer = null
    this.#endOnLink(how)
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
      this.#ahead.answerAll(this.#final)
      this.#ahead = null
      answered = true
    }
    this.#sent = NONE
    this.#clearInactivity()
    // The client learns of the end from a response; if none was open, the next request gets it.
    if (answered) this.#end()
    else this.#armInactivity()
  }

  #endOnLink (how: LinkEnd): void {
    const id = this.#id
    if (id === 0) return
    if (how !== 'terminate') {
      this.#id = 0
      this.#ctx.upstream.end(id, how)
      return
    }
    // RFC 7395 3.6: close the stream and let ejabberd end the connection ID
    // once it has read everything before the close. Ending the ID now would
    // stop the c2s with the terminate's own payload still in its mailbox.
    try {
      this.#ctx.upstream.send(id, CLOSE_ELEMENT)
    } catch {
      this.#id = 0
      this.#ctx.upstream.end(id, 'error')
      return
    }
    this.#closeTimer = this.#ctx.clock.setTimeout(() => {
      this.#closeTimer = null
      if (this.#id === 0) return
      this.#id = 0
      this.#ctx.upstream.end(id, 'timeout')
    }, STREAM_CLOSE_TIMEOUT_MS)
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
      this.#close('INACTIVE', 'timeout')
      this.#end()
    }, seconds * 1000)
  }

  #clearInactivity (): void {
    if (this.#inactivityTimer === null) return
    this.#ctx.clock.clearTimeout(this.#inactivityTimer)
    this.#inactivityTimer = null
  }
}
