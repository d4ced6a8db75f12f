// The XMPP-over-WebSocket endpoint (RFC 7395): a thin adapter from `ws` to
// lib/websocket. The upgrade is checked here (path, subprotocol, Origin)
// and answered with an HTTP status when refused; each WebSocket is then one
// WsSession, whose methods the socket's events call through one shared set
// of listeners (no closures per connection).
import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import proxyAddr from '@fastify/proxy-addr'
import { WebSocketServer, type WebSocket } from 'ws'
import type { WsEndpoint } from '../lib/websocket/endpoint.js'
import type { WsSession } from '../lib/websocket/session.js'
import type { Draining } from '../lib/draining.js'
import { BUSY_RETRY_AFTER_SECONDS, isBusy } from '../lib/accept-guard.js'

export interface XmppWebsocketOptions {
  endpoint: WsEndpoint
  /** While on, upgrades get HTTP 503 (a balancer retries them elsewhere). */
  draining?: Draining
  path: string
  /** Allowed origins, or ['*']: a browser page from any other origin is refused (cross-site WebSocket hijacking). */
  corsOrigins: readonly string[]
  /** Take the client's address from X-Forwarded-For, as the HTTP routes do. */
  trustProxy: boolean
  /** Largest client message (bytes); larger gets policy-violation (lib/websocket/message.ts). */
  maxMessageBytes: number
  /** RFC 7692 compression; off by default, since each compressed socket keeps zlib state. */
  perMessageDeflate: boolean
}

/** RFC 7395 3.1: the subprotocol a client must ask for. */
export const SUBPROTOCOL = 'xmpp'

/**
 * Messages up to this multiple of the limit are read and refused with a
 * stream error; beyond it `ws` stops reading at the frame header and closes
 * with 1009 (RFC 6455 7.4.1), so a huge frame is never buffered.
 */
const HARD_LIMIT_FACTOR = 2

const kSession = Symbol('megaphone.ws-session')
type SessionSocket = WebSocket & { [kSession]: WsSession }

const sessionOf = (ws: WebSocket): WsSession => (ws as SessionSocket)[kSession]
function onMessage (this: WebSocket, data: Buffer, isBinary: boolean): void { sessionOf(this).onMessage(data, isBinary) }
function onPong (this: WebSocket): void { sessionOf(this).onPong() }
function onClose (this: WebSocket): void { sessionOf(this).onPeerClose() }

export default async function xmppWebsocket (app: FastifyInstance, opts: XmppWebsocketOptions): Promise<void> {
  const { endpoint, path } = opts
  const anyOrigin = opts.corsOrigins.includes('*')
  const origins = new Set(opts.corsOrigins)
  const trust = opts.trustProxy ? () => true : () => false
  const log = app.log.child({ component: 'websocket' })

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: opts.maxMessageBytes * HARD_LIMIT_FACTOR,
    perMessageDeflate: opts.perMessageDeflate,
    // Checked by the session, which answers bad UTF-8 with a stream error rather than a bare 1007.
    skipUTF8Validation: true,
    handleProtocols: (protocols) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false
  })

  function onError (this: WebSocket, err: Error & { code?: string }): void {
    // ws closes the connection itself after a protocol error (a huge frame, a bad opcode).
    log.info({ code: err.code, connection: sessionOf(this).connectionId }, 'websocket protocol error')
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroySocket)
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const requestPath = query === -1 ? url : url.slice(0, query)
    if (requestPath !== path && requestPath !== `${path}/`) {
      refuse(socket, 404, 'no WebSocket endpoint here\n')
      return
    }
    if (!endpoint.accepting || opts.draining?.on === true) {
      refuse(socket, 503, 'shutting down\n')
      return
    }
    // Accepted past the connection cap (lib/accept-guard.ts): told, not upgraded.
    if (isBusy(req.socket)) {
      refuse(socket, 503, 'server busy: connection limit reached, try again later\n', `retry-after: ${BUSY_RETRY_AFTER_SECONDS}\r\n`)
      return
    }
    // Cross-site WebSocket hijacking: a browser always sends Origin; a page
    // from an origin not allowed is refused. Clients that are not browsers send none.
    const origin = req.headers.origin
    if (!anyOrigin && origin !== undefined && !origins.has(origin)) {
      log.info({ ip: req.socket.remoteAddress }, 'websocket refused: origin not allowed')
      refuse(socket, 403, 'origin not allowed\n')
      return
    }
    // RFC 7395 3.1: the client asks for the `xmpp` subprotocol.
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    if (!offered.includes(SUBPROTOCOL)) {
      refuse(socket, 400, `the '${SUBPROTOCOL}' WebSocket subprotocol is required (RFC 7395 3.1)\n`)
      return
    }
    // The same address the session gives ejabberd.
    const ip = proxyAddr(req, trust)
    const refused = endpoint.admit(ip)
    if (refused !== null) {
      // RFC 6585 4: 429, with RFC 9110 10.2.3 Retry-After when waiting helps (the rate); before the upgrade, so any client sees it.
      refuse(socket, 429, refused.refusal === 'session-rate' ? 'sessions created too fast from this address\n' : 'too many sessions open from this address\n',
        refused.retryAfterSeconds === null ? '' : `retry-after: ${refused.retryAfterSeconds}\r\n`)
      return
    }
    const port = req.socket.remotePort ?? 0
    socket.off('error', destroySocket)
    let accepted = false
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true
      const s = ws as SessionSocket
      s[kSession] = endpoint.accept(ws, ip, port)
      s.on('message', onMessage)
      s.on('pong', onPong)
      s.on('close', onClose)
      s.on('error', onError)
    })
    // ws completes an upgrade synchronously, or drops a socket that is no longer usable: then the place goes back.
    if (!accepted) endpoint.release(ip)
  }
  app.server.on('upgrade', onUpgrade)

  // A plain GET on the endpoint (a browser tab, a health probe): say what it is.
  app.get(path, (_request, reply) => {
    void reply.code(426).header('upgrade', 'websocket').header('sec-websocket-protocol', SUBPROTOCOL)
      .type('text/plain; charset=utf-8')
      .send('This is an XMPP-over-WebSocket endpoint (RFC 7395): connect with the xmpp subprotocol.\n')
  })

  // Before the server waits for connections to end: every WebSocket gets its
  // closing condition (WsEndpoint.shutdown), and no new upgrade is taken.
  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade)
    endpoint.shutdown()
  })
}

function destroySocket (this: Duplex): void { this.destroy() }

/** An HTTP answer on a socket that asked for an upgrade, then the end of it. */
function refuse (socket: Duplex, status: number, message: string, headers = ''): void {
  socket.off('error', destroySocket)
  socket.on('error', () => {})
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'connection: close\r\ncontent-type: text/plain; charset=utf-8\r\n' + headers +
    `content-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`)
}
