// The link: one TCP connection to ejabberd's megaphone_listener that carries
// every session (docs/link-protocol.md). It connects, handshakes, keeps a
// heartbeat, reconnects with capped exponential backoff, and hands each
// session's frames to the object that owns its connection ID.
//
//   idle -> connecting -> handshaking -> ready
//              ^              |            |
//              +-- waiting <--+------------+   (socket lost, denied, heartbeat)
//   any -> closed (close() was called; no reconnect)
import { EventEmitter } from 'node:events'
import { createHmac } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import type { BaseLogger } from 'pino'
import { systemClock, type Clock, type Timer } from '../clock.js'
import { ErrorCode, FrameError, MegaphoneError } from '../errors.js'
import { backoffDelayMs } from './backoff.js'
import { FrameDecoder, encodeFrame } from './codec.js'
import { formatControl, parseControl, type ControlMessage } from './control.js'
import type { LinkTlsOptions } from './tls.js'
import {
  CONTROL_ID,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  HEADER_BYTES,
  PROTOCOL_VERSION,
  isCloseReason,
  type CloseReason
} from './constants.js'

/** Every status a link goes through, in the order of the diagram above. */
export const LINK_STATUSES = ['idle', 'connecting', 'handshaking', 'ready', 'waiting', 'closed'] as const
export type LinkStatus = (typeof LINK_STATUSES)[number]

/**
 * Why a session ended on the link: a close reason ejabberd sent (docs
 * "Sessions"), `link-down` when the link was lost, `shutdown` when it was
 * closed for good, `error` when the session's owner failed on a frame.
 */
export type SessionEndReason = CloseReason | 'link-down'

/** Whoever owns a connection ID: a BOSH session, or a test's XMPP client. */
export interface LinkSession {
  /** One frame's content from ejabberd: exactly one complete element. */
  onLinkFrame (content: Buffer): void
  /** The session is over on the link: ejabberd closed it, or the link went down. Called once. */
  onLinkClose (reason: SessionEndReason): void
}

/** What the HTTP side may know of the link: for /health, /metrics and backpressure. */
export interface LinkState {
  readonly status: LinkStatus
  readonly sessionCount: number
  /** True while the link's write buffer is over its high-water mark. */
  readonly saturated: boolean
}

export interface LinkOptions {
  host: string
  port: number
  /** Shared with the listener's `secret`; never sent over the link (HMAC of a challenge). */
  secret: string
  /** Largest frame accepted from ejabberd, header included. */
  maxFrameBytes?: number
  heartbeatIntervalMs?: number
  /** Silence after which the link is declared dead and reconnected. */
  heartbeatTimeoutMs?: number
  reconnectMinDelayMs?: number
  reconnectMaxDelayMs?: number
  /** Socket write buffer above which the link reports itself saturated. */
  writeHighWaterMarkBytes?: number
  /** Hard bound on the write buffer: sends beyond it fail with LINK_SATURATED. */
  maxWriteBufferBytes?: number
  logger?: BaseLogger
  /** Heartbeat, handshake timeout and reconnect delays run on this clock; the system's by default. */
  clock?: Clock
  /** Draws the reconnect jitter (backoff.ts); Math.random by default. */
  random?: () => number
  /**
   * The connection IDs this link issues: firstId, firstId + idStride, … (by
   * default 1, 2, 3, …). Links to several ejabberd nodes (pool.ts) take
   * disjoint series, so an ID alone says which link it is on.
   */
  firstId?: number
  idStride?: number
  /** TLS, verified against these (tls.ts); plain TCP when absent. */
  tls?: LinkTlsOptions
}

/** How long close() waits for the socket to finish before destroying it. */
const CLOSE_GRACE_MS = 2_000

const noopLogger: BaseLogger = {
  level: 'silent',
  fatal () {},
  error () {},
  warn () {},
  info () {},
  debug () {},
  trace () {},
  silent () {}
} as unknown as BaseLogger

export class Link extends EventEmitter implements LinkState {
  readonly #opts: Required<Omit<LinkOptions, 'logger' | 'clock' | 'random' | 'firstId' | 'idStride' | 'tls'>>
  readonly #tls: LinkTlsOptions | null
  readonly #idStride: number
  readonly #log: BaseLogger
  readonly #clock: Clock
  readonly #random: () => number
  #status: LinkStatus = 'idle'
  #socket: net.Socket | null = null
  #decoder: FrameDecoder | null = null
  #sessions = new Map<number, LinkSession>()
  #nextId = 1
  #peerMaxFrameBytes = HEADER_BYTES
  #attempt = 0
  #reconnectTimer: Timer | null = null
  #heartbeatTimer: Timer | null = null
  #handshakeTimer: Timer | null = null
  #lastReceivedAt = 0
  #heartbeatIntervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS
  #pingCounter = 0
  #saturated = false
  /** The socket corked for the current turn of the event loop, if any. */
  #corked: net.Socket | null = null
  /** Why the current socket is being torn down, for the `down` event. */
  #downReason = 'socket-closed'

  constructor (options: LinkOptions) {
    super()
    const { logger, clock, random, firstId = 1, idStride = 1, tls: tlsOptions, ...rest } = options
    this.#tls = tlsOptions ?? null
    this.#nextId = firstId
    this.#idStride = idStride
    this.#opts = {
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
      reconnectMinDelayMs: 100,
      reconnectMaxDelayMs: 10_000,
      writeHighWaterMarkBytes: 1 << 20,
      maxWriteBufferBytes: 64 << 20,
      ...rest
    }
    this.#log = logger ?? noopLogger
    this.#clock = clock ?? systemClock
    this.#random = random ?? Math.random
  }

  get status (): LinkStatus { return this.#status }
  get sessionCount (): number { return this.#sessions.size }
  /** True while the socket's write buffer is over its high-water mark: stop reading client input until 'drain'. */
  get saturated (): boolean { return this.#saturated }
  /** Largest content a session may send in one frame, as announced by ejabberd. */
  get maxContentBytes (): number { return this.#peerMaxFrameBytes - HEADER_BYTES }

  #setStatus (status: LinkStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.emit('status', status)
  }

  /** Starts connecting; the link then keeps itself up until close(). */
  start (): void {
    if (this.#status !== 'idle') return
    this.#connect()
  }

  /** Resolves when the link is ready, rejects after `timeoutMs` or if it is closed. */
  async waitReady (timeoutMs: number): Promise<void> {
    if (this.#status === 'ready') return
    if (this.#status === 'closed') throw new MegaphoneError(ErrorCode.LINK_CLOSED, 'link is closed')
    await new Promise<void>((resolve, reject) => {
      const onStatus = (status: LinkStatus): void => {
        if (status === 'ready') done(null)
        else if (status === 'closed') done(new MegaphoneError(ErrorCode.LINK_CLOSED, 'link is closed'))
      }
      const timer = this.#clock.setTimeout(() => {
        done(new MegaphoneError(ErrorCode.LINK_DOWN, `link not ready after ${timeoutMs} ms (status ${this.#status})`))
      }, timeoutMs)
      const done = (err: Error | null): void => {
        this.#clock.clearTimeout(timer)
        this.off('status', onStatus)
        if (err === null) resolve()
        else reject(err)
      }
      this.on('status', onStatus)
    })
  }

  /**
   * Opens a session for a client at ip:port and returns its connection ID.
   * Fails at once with LINK_DOWN when the link is not ready.
   */
  open (session: LinkSession, ip: string, port: number): number {
    this.#assertReady()
    const id = this.#nextId
    this.#nextId += this.#idStride
    this.#sessions.set(id, session)
    this.#sendControl({ word: 'open', id, ip, port })
    return id
  }

  /**
   * Sends one frame of session content. Returns false when the link is now
   * saturated: the caller should stop reading its client until 'drain'.
   * Throws LINK_DOWN, LINK_SESSION_CLOSED, LINK_FRAME_TOO_LARGE, or
   * LINK_SATURATED past the hard bound.
   */
  send (id: number, content: Buffer | string): boolean {
    this.#assertReady()
    if (!this.#sessions.has(id)) {
      throw new MegaphoneError(ErrorCode.LINK_SESSION_CLOSED, `connection ${id} is not open on the link`)
    }
    return this.#write(encodeFrame(id, content, this.#peerMaxFrameBytes))
  }

  /** Ends a session from this side. Its owner gets no onLinkClose: it asked for this. */
  end (id: number, reason: CloseReason = 'normal'): void {
    if (!this.#sessions.delete(id)) return
    if (this.#status === 'ready') this.#sendControl({ word: 'close', id, reason })
  }

  /** Closes the link for good: sessions end with 'shutdown', ejabberd is told `bye shutdown`. */
  async close (): Promise<void> {
    if (this.#status === 'closed') return
    const socket = this.#socket
    if (this.#status === 'ready') this.#sendControl({ word: 'bye', reason: 'shutdown' })
    this.#downReason = 'shutdown'
    this.#setStatus('closed')
    this.#clearTimers()
    this.#dropSessions('shutdown')
    if (socket === null || socket.destroyed) return
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => socket.destroy(), CLOSE_GRACE_MS)
      socket.once('close', () => { this.#clock.clearTimeout(timer); resolve() })
      socket.end()
    })
  }

  #assertReady (): void {
    if (this.#status !== 'ready') {
      throw new MegaphoneError(ErrorCode.LINK_DOWN, `link to ejabberd is not ready (status ${this.#status})`)
    }
  }

  #write (frame: Buffer): boolean {
    const socket = this.#socket
    if (socket === null) throw new MegaphoneError(ErrorCode.LINK_DOWN, 'link has no socket')
    if (socket.writableLength + frame.length > this.#opts.maxWriteBufferBytes) {
      throw new MegaphoneError(ErrorCode.LINK_SATURATED,
        `link write buffer holds ${socket.writableLength} bytes, over its bound of ${this.#opts.maxWriteBufferBytes}`)
    }
    // Frames written in one turn of the event loop (the requests of every
    // client read in that turn) leave in one writev instead of one write
    // each: a write on a socket costs a system call, which under load was
    // half of Node's CPU. Uncorked after the poll phase, so no frame waits
    // for a timer.
    if (this.#corked !== socket) {
      this.#corked = socket
      socket.cork()
      setImmediate(() => {
        if (this.#corked === socket) this.#corked = null
        socket.uncork()
      })
    }
    const ok = socket.write(frame)
    if (!ok && !this.#saturated) {
      this.#saturated = true
      this.#log.warn({ bufferedBytes: socket.writableLength }, 'link saturated, pausing client input')
      this.emit('saturated')
    }
    return ok
  }

  #sendControl (msg: ControlMessage): void {
    this.#socket?.write(encodeFrame(CONTROL_ID, formatControl(msg)))
  }

  #connect (): void {
    this.#reconnectTimer = null
    this.#setStatus('connecting')
    this.#downReason = 'socket-closed'
    const { host, port, writeHighWaterMarkBytes } = this.#opts
    // Spec "TLS": with TLS, the handshake below starts once TLS is up and
    // the listener's certificate verified (rejectUnauthorized is Node's default).
    const socket = this.#tls === null
      ? net.connect({ host, port, writableHighWaterMark: writeHighWaterMarkBytes } as net.NetConnectOpts)
      // highWaterMark: tls.connect passes it to the TLSSocket (both sides of
      // the stream); @types/node does not list it.
      : tls.connect({ host, port, highWaterMark: writeHighWaterMarkBytes, ...this.#tls } as tls.ConnectionOptions)
    socket.setNoDelay(true)
    socket.setKeepAlive(true)
    this.#socket = socket
    this.#decoder = new FrameDecoder(this.#opts.maxFrameBytes)
    this.#saturated = false
    this.#lastReceivedAt = this.#clock.now()
    // The handshake must complete within the heartbeat timeout, connect included.
    this.#handshakeTimer = this.#clock.setTimeout(() => {
      this.#handshakeTimer = null
      // A listener with `tls: true` waits for a TLS hello that a plain link never sends.
      this.#log.error({ timeoutMs: this.#opts.heartbeatTimeoutMs, tls: this.#tls !== null },
        this.#tls === null
          ? 'no link handshake within the heartbeat timeout, resetting link (if the listener has tls: true, set link.tls)'
          : 'no link handshake within the heartbeat timeout, resetting link')
      this.#reset('handshake-timeout')
    }, this.#opts.heartbeatTimeoutMs)
    socket.on(this.#tls === null ? 'connect' : 'secureConnect', () => {
      const protocol = socket instanceof tls.TLSSocket ? socket.getProtocol() : null
      this.#log.debug({ host, port, tls: protocol }, 'link connected, awaiting challenge')
      this.#setStatus('handshaking')
    })
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('drain', () => {
      if (!this.#saturated) return
      this.#saturated = false
      this.#log.info('link drained, resuming client input')
      this.emit('drain')
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#downReason = err.code ?? 'socket-error'
      this.#log.warn({ err: { code: err.code, message: err.message }, host: this.#opts.host, port: this.#opts.port }, 'link socket error')
    })
    socket.on('close', () => this.#onClose(socket))
  }

  #onData (chunk: Buffer): void {
    // After close() the socket is ending: a challenge or frame still on its
    // way gets no answer (writing would fail with write-after-end).
    if (this.#status === 'closed') return
    this.#lastReceivedAt = this.#clock.now()
    let frames
    try {
      frames = (this.#decoder as FrameDecoder).push(chunk)
    } catch (err) {
      if (!(err instanceof FrameError)) throw err
      this.#log.error({ code: err.code, reason: err.reason, offset: err.offset }, 'malformed frame from ejabberd, resetting link')
      this.#sendControl({ word: 'bye', reason: `malformed-frame ${err.reason}` })
      this.#reset('malformed-frame')
      return
    }
    for (const frame of frames) {
      if (this.#socket?.destroyed !== false) return
      if (frame.id === CONTROL_ID) this.#onControl(frame.content)
      else this.#onSessionFrame(frame.id, frame.content)
    }
  }

  #onSessionFrame (id: number, content: Buffer): void {
    if (this.#status !== 'ready') {
      this.#log.error({ id }, 'session frame before handshake, resetting link')
      this.#reset('handshake-required')
      return
    }
    const session = this.#sessions.get(id)
    // Frames that cross a close (ours or theirs) are expected and dropped.
    if (session === undefined) return
    try {
      session.onLinkFrame(content)
    } catch (err) {
      // One session's failure must not take the link or other sessions down.
      this.#log.error({ id, err }, 'session failed to handle a frame, ending it')
      this.end(id, 'error')
      this.#notifyClose(session, id, 'error')
    }
  }

  #onControl (content: Buffer): void {
    let msg: ControlMessage
    try {
      msg = parseControl(content)
    } catch (err) {
      this.#log.error({ code: (err as MegaphoneError).code, detail: (err as Error).message }, 'malformed control message from ejabberd, resetting link')
      this.#sendControl({ word: 'bye', reason: 'unknown-control' })
      this.#reset('malformed-control')
      return
    }
    switch (msg.word) {
      case 'challenge': return this.#onChallenge(msg)
      case 'ready': return this.#onReady(msg)
      case 'denied':
        // The listener closes the socket right after; backoff applies before the retry.
        this.#log.error({ reason: msg.reason }, 'ejabberd refused the link handshake (check the shared secret)')
        this.#downReason = `denied ${msg.reason}`
        this.emit('denied', msg.reason)
        return
      case 'close': {
        const session = this.#sessions.get(msg.id)
        if (session === undefined) return
        this.#sessions.delete(msg.id)
        if (isCloseReason(msg.reason)) {
          this.#notifyClose(session, msg.id, msg.reason)
        } else {
          // A word this version does not know still ends the session (docs "Sessions").
          this.#log.warn({ id: msg.id, reason: msg.reason }, 'unknown close reason from ejabberd')
          this.#notifyClose(session, msg.id, 'error')
        }
        return
      }
      case 'ping':
        this.#sendControl({ word: 'pong', token: msg.token })
        return
      case 'pong':
        return
      case 'bye':
        this.#log.warn({ reason: msg.reason }, 'ejabberd is closing the link')
        this.#downReason = `bye ${msg.reason}`
        return
      case 'auth':
      case 'open':
        this.#log.error({ word: msg.word }, 'control message only a front end sends, resetting link')
        this.#sendControl({ word: 'bye', reason: 'unknown-control' })
        this.#reset('unexpected-control')
    }
  }

  #onChallenge (msg: Extract<ControlMessage, { word: 'challenge' }>): void {
    if (this.#status !== 'handshaking') return this.#reset('unexpected-challenge')
    if (msg.version !== PROTOCOL_VERSION) {
      this.#log.error({ theirs: msg.version, ours: PROTOCOL_VERSION }, 'ejabberd speaks another link protocol version')
    }
    const hmac = createHmac('sha256', this.#opts.secret).update(msg.nonce, 'latin1').digest('hex')
    this.#sendControl({ word: 'auth', version: PROTOCOL_VERSION, hmac, maxFrameBytes: this.#opts.maxFrameBytes })
  }

  #onReady (msg: Extract<ControlMessage, { word: 'ready' }>): void {
    if (this.#status !== 'handshaking') return this.#reset('unexpected-ready')
    if (this.#handshakeTimer !== null) this.#clock.clearTimeout(this.#handshakeTimer)
    this.#handshakeTimer = null
    this.#peerMaxFrameBytes = msg.maxFrameBytes
    this.#attempt = 0
    // Ping often enough for ejabberd's timeout as well as for ours.
    this.#heartbeatIntervalMs = Math.max(50, Math.min(this.#opts.heartbeatIntervalMs, Math.floor(msg.heartbeatTimeoutMs / 3)))
    this.#armHeartbeat()
    this.#log.info({ host: this.#opts.host, port: this.#opts.port, peerMaxFrameBytes: msg.maxFrameBytes }, 'link ready')
    this.#setStatus('ready')
    this.emit('ready')
  }

  #armHeartbeat (): void {
    this.#heartbeatTimer = this.#clock.setTimeout(() => {
      this.#heartbeatTimer = null
      this.#heartbeat()
    }, this.#heartbeatIntervalMs)
  }

  #heartbeat (): void {
    const silentMs = this.#clock.now() - this.#lastReceivedAt
    if (silentMs > this.#opts.heartbeatTimeoutMs) {
      this.#log.error({ silentMs }, 'no frame from ejabberd within the heartbeat timeout, resetting link')
      this.#reset('heartbeat-timeout')
      return
    }
    this.#sendControl({ word: 'ping', token: String(++this.#pingCounter) })
    this.#armHeartbeat()
  }

  /** Tears the socket down; #onClose then ends the sessions and schedules the reconnect. */
  #reset (reason: string): void {
    this.#downReason = reason
    this.#socket?.destroy()
  }

  #onClose (socket: net.Socket): void {
    if (socket !== this.#socket) return
    this.#socket = null
    this.#decoder = null
    this.#clearTimers()
    const reason = this.#downReason
    const wasReady = this.#status === 'ready'
    this.#dropSessions('link-down')
    if (this.#status === 'closed') return
    if (wasReady) this.#log.error({ reason }, 'link to ejabberd lost')
    this.emit('down', reason)
    const delayMs = this.#backoffMs()
    this.#log.info({ reason, delayMs, attempt: this.#attempt }, 'link reconnecting')
    this.#setStatus('waiting')
    this.#reconnectTimer = this.#clock.setTimeout(() => this.#connect(), delayMs)
  }

  #backoffMs (): number {
    return backoffDelayMs(this.#attempt++, this.#opts.reconnectMinDelayMs, this.#opts.reconnectMaxDelayMs, this.#random)
  }

  #dropSessions (reason: SessionEndReason): void {
    const sessions = this.#sessions
    this.#sessions = new Map()
    for (const [id, session] of sessions) this.#notifyClose(session, id, reason)
  }

  #notifyClose (session: LinkSession, id: number, reason: SessionEndReason): void {
    try {
      session.onLinkClose(reason)
    } catch (err) {
      this.#log.error({ id, err }, 'session failed while closing')
    }
  }

  #clearTimers (): void {
    for (const timer of [this.#reconnectTimer, this.#heartbeatTimer, this.#handshakeTimer]) {
      if (timer !== null) this.#clock.clearTimeout(timer)
    }
    this.#reconnectTimer = this.#heartbeatTimer = this.#handshakeTimer = null
  }
}
