// One XMPP-over-WebSocket session (RFC 7395): a client's WebSocket on one
// side, a connection ID on the link on the other. Client messages go to
// ejabberd as they are, once checked (one element each, a served domain);
// ejabberd's elements come back one per WebSocket message. No HTTP and no
// `ws` here: the route adapts a WebSocket to WsPeer, so this runs in unit
// tests against a fake peer, a fake clock and a recording link.
import type { Clock, Timer } from '../clock.js'
import { ErrorCode, MegaphoneError } from '../errors.js'
import type { SessionEndReason } from '../link/link.js'
import type { CloseReason } from '../link/constants.js'
import { STREAM_CLOSE_TIMEOUT_MS } from '../bosh/constants.js'
import type { Log, Upstream } from '../bosh/session.js'
import {
  CLOSE_ELEMENT,
  MessageRefusal,
  closeSeeOther,
  readMessage,
  serverFrameKind,
  streamError,
  streamHeader,
  type StreamCondition
} from './message.js'

/** What a session needs of its WebSocket; the route wraps a `ws` WebSocket in it. */
export interface WsPeer {
  /** One message: always text here (RFC 7395 3.2). */
  send (data: string | Buffer, options: { binary: boolean }): void
  /** The WebSocket closing handshake (RFC 6455 7.1.2). */
  close (code: number, reason: string): void
  /** Drops the connection at once, with no handshake. */
  terminate (): void
  /** Bytes queued for the client and not yet written to its socket. */
  readonly bufferedAmount: number
  /** Stops and restarts reading the client's socket (backpressure). */
  pause (): void
  resume (): void
  ping (): void
}

/** RFC 6455 7.4.1 status codes Megaphone closes with. */
export const WS_NORMAL = 1000
export const WS_GOING_AWAY = 1001
export const WS_INTERNAL_ERROR = 1011

/** RFC 7395 3.2: every message is a text message; a link frame's Buffer too. */
const TEXT = Object.freeze({ binary: false })

/** Why a WebSocket session ended, for /metrics. */
export type WsEnd =
  | 'normal' | 'client-gone' | 'refused' | 'ping-timeout' | 'slow-client'
  | 'ejabberd-error' | 'link-down' | 'shutdown' | 'close-timeout'

/** Shared by every session of one endpoint. */
export interface WsContext {
  upstream: Upstream
  clock: Clock
  log: Log
  /** Domains served; an `<open/>` to any other gets host-unknown. */
  domains: ReadonlySet<string>
  /** Largest client message (bytes). */
  maxMessageBytes: number
  /** Output queued for a client beyond this is a client that does not read: it is cut off. */
  maxBufferedBytes: number
  /** While the link is saturated, a promise for when it drains; else null. */
  whenWritable?: () => Promise<void> | null
  onEnd (session: WsSession, end: WsEnd): void
}

type State = 'new' | 'open' | 'closing' | 'closed'

export class WsSession {
  readonly #peer: WsPeer
  readonly #ctx: WsContext
  readonly #ip: string
  readonly #port: number
  #state: State = 'new'
  /** Connection ID on the link; 0 before the first `<open/>` and after the end. */
  #id = 0
  /** A stream header (ejabberd's, or Megaphone's before an early error) has gone to the client. */
  #headerSent = false
  #domain = ''
  /** Heard from since the last ping. */
  #alive = true
  #closeTimer: Timer | null = null

  constructor (peer: WsPeer, ip: string, port: number, ctx: WsContext) {
    this.#peer = peer
    this.#ip = ip
    this.#port = port
    this.#ctx = ctx
  }

  get connectionId (): number { return this.#id }
  get ended (): boolean { return this.#state === 'closed' }

  // --- from the client -------------------------------------------------------

  /** One WebSocket message from the client. */
  onMessage (data: Buffer, isBinary: boolean): void {
    this.#alive = true
    if (this.#state === 'closed' || this.#state === 'closing') return
    let read
    try {
      read = readMessage(data, isBinary, this.#ctx.maxMessageBytes)
    } catch (err) {
      if (!(err instanceof MessageRefusal)) throw err
      this.#refuse(err.condition, err.message)
      return
    }
    const { text, message } = read
    if (message.kind === 'open') {
      // Never an open proxy: only the domains this Megaphone serves.
      if (!this.#ctx.domains.has(message.to)) {
        this.#refuse('host-unknown', 'stream to a domain not served')
        return
      }
      this.#domain = message.to
      if (this.#state === 'new' && !this.#openLink()) return
      this.#state = 'open'
      this.#forward(text)
    } else if (this.#state === 'new') {
      // RFC 7395 3.4: the first message opens the stream.
      if (message.kind === 'close') this.#finish(WS_NORMAL, 'normal', CLOSE_ELEMENT)
      else this.#refuse('invalid-namespace', 'first message is not <open/> of the framing namespace')
    } else if (message.kind === 'close') {
      // RFC 7395 3.6: ejabberd answers with its own <close/>, then ends the connection ID.
      this.#state = 'closing'
      if (!this.#forward(text)) return
      this.#closeTimer = this.#ctx.clock.setTimeout(() => {
        this.#closeTimer = null
        this.#ctx.log.info({ connection: this.#id }, 'websocket: ejabberd did not close the stream in time')
        this.#finish(WS_NORMAL, 'close-timeout', CLOSE_ELEMENT, 'timeout')
      }, STREAM_CLOSE_TIMEOUT_MS)
    } else {
      this.#forward(text)
    }
  }

  onPong (): void { this.#alive = true }

  /** The WebSocket is closed, by the handshake or because the connection dropped. */
  onPeerClose (): void {
    if (this.#state === 'closed') return
    // A client that goes without its <close/> is a lost network, as on TCP: ejabberd keeps its session for XEP-0198 resumption.
    const clean = this.#state === 'closing'
    this.#end(clean ? 'normal' : 'client-gone', clean ? 'normal' : 'timeout')
  }

  /**
   * One heartbeat: a client not heard from since the last one is dead
   * (returns false, and is dropped as a lost network); otherwise it is pinged.
   */
  heartbeat (): boolean {
    if (this.#state === 'closed') return false
    if (!this.#alive) {
      this.#ctx.log.info({ connection: this.#id, ip: this.#ip }, 'websocket: no answer to ping; dropping the connection')
      this.#peer.terminate()
      this.#end('ping-timeout', 'timeout')
      return false
    }
    this.#alive = false
    this.#peer.ping()
    return true
  }

  /**
   * Megaphone is stopping: RFC 7395 3.6.1 sends the client elsewhere when
   * there is somewhere to go; otherwise RFC 6120 4.9.3.18 system-shutdown.
   */
  shutdown (seeOtherUri: string | null): void {
    if (this.#state === 'closed') return
    if (seeOtherUri !== null) this.#finish(WS_GOING_AWAY, 'shutdown', closeSeeOther(seeOtherUri), 'shutdown')
    else this.#finish(WS_GOING_AWAY, 'shutdown', this.#errorMessages('system-shutdown'), 'shutdown')
  }

  // --- from ejabberd ---------------------------------------------------------

  /** One element from ejabberd, as one WebSocket message. */
  onLinkFrame (content: Buffer): void {
    if (this.#state === 'closed') return
    const kind = serverFrameKind(content)
    if (kind === 'open') this.#headerSent = true
    this.#peer.send(content, TEXT)
    if (this.#peer.bufferedAmount > this.#ctx.maxBufferedBytes) {
      // A client that does not read its messages: cut off, not buffered without bound.
      this.#ctx.log.warn({ connection: this.#id, ip: this.#ip, bufferedBytes: this.#peer.bufferedAmount }, 'websocket: client does not read; dropping the connection')
      this.#peer.terminate()
      this.#end('slow-client', 'timeout')
      return
    }
    if (kind === 'close') this.#state = 'closing'
  }

  /** ejabberd ended the connection ID, or the link went down. */
  onLinkClose (reason: SessionEndReason): void {
    this.#id = 0
    if (this.#state === 'closed') return
    switch (reason) {
      case 'normal':
      case 'stream-error':
        // ejabberd sent its stream error and <close/> already.
        this.#finish(WS_NORMAL, 'normal', '')
        break
      case 'link-down':
      case 'shutdown':
        // No stream error: to the client this is a lost connection, after
        // which it reconnects and, with XEP-0198, resumes.
        this.#ctx.log.info({ ip: this.#ip, reason }, 'websocket: link to ejabberd lost; dropping the connection')
        this.#finish(WS_INTERNAL_ERROR, 'link-down', '')
        break
      default:
        this.#ctx.log.warn({ ip: this.#ip, reason }, 'websocket: ejabberd ended the session')
        this.#finish(WS_INTERNAL_ERROR, 'ejabberd-error', this.#errorMessages(reason === 'open-failed' ? 'remote-connection-failed' : 'internal-server-error'))
    }
  }

  // --- inside ----------------------------------------------------------------

  #openLink (): boolean {
    try {
      this.#id = this.#ctx.upstream.open(this, this.#ip, this.#port)
      return true
    } catch (err) {
      if (!(err instanceof MegaphoneError)) throw err
      this.#ctx.log.warn({ code: err.code, ip: this.#ip }, 'websocket: cannot open a session on the link')
      this.#finish(WS_INTERNAL_ERROR, 'link-down', this.#errorMessages('remote-connection-failed'))
      return false
    }
  }

  #forward (text: string): boolean {
    let writable: boolean
    try {
      writable = this.#ctx.upstream.send(this.#id, text)
    } catch (err) {
      if (!(err instanceof MegaphoneError)) throw err
      const tooLarge = err.code === ErrorCode.LINK_FRAME_TOO_LARGE
      this.#ctx.log.warn({ code: err.code, connection: this.#id }, 'websocket: cannot forward to ejabberd')
      this.#finish(tooLarge ? WS_NORMAL : WS_INTERNAL_ERROR, tooLarge ? 'refused' : 'link-down',
        this.#errorMessages(tooLarge ? 'policy-violation' : 'remote-connection-failed'), 'error')
      return false
    }
    // Backpressure: while ejabberd is not keeping up, stop reading this client.
    const drained = writable ? null : this.#ctx.whenWritable?.() ?? null
    if (drained !== null) {
      this.#peer.pause()
      void drained.then(() => { if (this.#state !== 'closed') this.#peer.resume() })
    }
    return true
  }

  /** A client message refused: its stream error, the close, and the session ends (RFC 7395 3.6). */
  #refuse (condition: StreamCondition, reason: string): void {
    this.#ctx.log.info({ condition, reason, connection: this.#id, ip: this.#ip }, 'websocket message refused')
    this.#finish(WS_NORMAL, 'refused', this.#errorMessages(condition), 'error')
  }

  /** The stream error, after a header of Megaphone's when ejabberd's has not gone out. */
  #errorMessages (condition: StreamCondition): string[] {
    const messages = [streamError(condition), CLOSE_ELEMENT]
    if (!this.#headerSent) messages.unshift(streamHeader(this.#domain === '' ? this.#firstDomain() : this.#domain))
    return messages
  }

  #firstDomain (): string {
    return this.#ctx.domains.values().next().value ?? ''
  }

  /** Sends `last` (one message or several), closes the WebSocket, and ends the connection ID with `linkReason`. */
  #finish (code: number, end: WsEnd, last: string | string[], linkReason: CloseReason = 'normal'): void {
    for (const message of typeof last === 'string' ? [last] : last) if (message !== '') this.#peer.send(message, TEXT)
    this.#peer.close(code, '')
    this.#end(end, linkReason)
  }

  #end (end: WsEnd, linkReason: CloseReason): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#closeTimer !== null) this.#ctx.clock.clearTimeout(this.#closeTimer)
    this.#closeTimer = null
    if (this.#id !== 0) this.#ctx.upstream.end(this.#id, linkReason)
    this.#id = 0
    this.#ctx.onEnd(this, end)
  }
}
