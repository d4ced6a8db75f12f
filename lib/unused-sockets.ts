// Connections that have not sent a request yet. Browsers open such sockets
// ahead of need (preconnect). Node's server.closeIdleConnections(), which
// Fastify's forceCloseConnections: 'idle' relies on, does not count them as
// idle, so a graceful shutdown would wait for each until headersTimeout
// (60 s) ended it. Node's headersTimeout does not see an HTTPS connection
// until its TLS handshake is done either: a connection that sends nothing at
// all is only bounded here, by `firstRequestMs` from its accept.
import type { Server } from 'node:http'
import { Server as TlsServer } from 'node:tls'
import type { Socket } from 'node:net'
import { systemClock, type Clock, type Timer } from './clock.js'

export interface UnusedSockets {
  /** Destroys every connection that has not sent a request; returns how many there were. */
  destroy (): number
  /** Destroys the connection that has waited longest without a request (to free a descriptor at once); false when there is none. */
  destroyOldest (): boolean
  /** Stops the timer (shutdown). */
  stop (): void
}

export interface UnusedSocketsOptions {
  /** A connection whose first request's headers are not complete this long after its accept is closed; 0: never. */
  firstRequestMs?: number
  /** Called for each connection closed by firstRequestMs. */
  onTimeout?: (socket: Socket) => void
  clock?: Clock
}

/** A connection's key on one listening socket: the peer's address and port. */
function peerOf (socket: Socket): string | null {
  const { remoteAddress, remotePort } = socket
  return remoteAddress === undefined || remotePort === undefined ? null : `${remoteAddress}|${remotePort}`
}

/** RFC 9110 15.5.9 408: the server would not wait any longer; the client may retry on a new connection. */
function timeoutAnswer (seconds: number): string {
  const text = `request headers not complete within ${seconds} s\n`
  return 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
}

interface Entry { socket: Socket, onClose: () => void, at: number }

export function trackUnusedSockets (server: Server, options: UnusedSocketsOptions = {}): UnusedSockets {
  const { firstRequestMs = 0, onTimeout, clock = systemClock } = options
  // Over TLS the socket seen here is the TCP one underneath: writing an HTTP answer to it would break the TLS stream.
  const answer = server instanceof TlsServer ? null : timeoutAnswer(Math.round(firstRequestMs / 1000))
  // Keyed by peer rather than by socket: over HTTPS a request arrives on a TLS
  // socket, while `connection` gives the TCP socket underneath, and the TLS
  // handshake may still be under way when shutdown begins. An entry and its
  // close listener go at the first request, so that a connection in use (one
  // per BOSH session) keeps nothing here. Insertion order is accept order,
  // so the oldest entries are first.
  const unused = new Map<string, Entry>()
  let timer: Timer | null = null

  const remove = (peer: string, entry: Entry): void => {
    unused.delete(peer)
    entry.socket.off('close', entry.onClose)
  }

  // One timer for all: due when the oldest entry is; each run closes the
  // expired entries from the front and stops at the first that is not.
  const sweep = (): void => {
    timer = null
    const now = clock.now()
    for (const [peer, entry] of unused) {
      if (now - entry.at < firstRequestMs) break
      remove(peer, entry)
      const { socket } = entry
      // Node's headersTimeout check may have closed it in this same turn (its 'close' is still to come).
      if (socket.destroyed) continue
      onTimeout?.(socket)
      if (answer !== null && socket.writable) socket.end(answer, () => socket.destroy())
      else socket.destroy()
    }
    arm()
  }
  const arm = (): void => {
    if (timer !== null || firstRequestMs <= 0) return
    const oldest = unused.values().next()
    if (oldest.done === true) return
    timer = clock.setTimeout(sweep, Math.max(0, oldest.value.at + firstRequestMs - clock.now()))
  }

  server.on('connection', (socket: Socket) => {
    const peer = peerOf(socket)
    if (peer === null) return
    const previous = unused.get(peer)
    if (previous !== undefined) remove(peer, previous)
    const onClose = (): void => { if (unused.get(peer)?.socket === socket) unused.delete(peer) }
    unused.set(peer, { socket, onClose, at: clock.now() })
    socket.once('close', onClose)
    arm()
  })
  // A WebSocket upgrade is a request too ('upgrade' instead of 'request').
  const used = (req: { socket: Socket }): void => {
    if (unused.size === 0) return
    const peer = peerOf(req.socket)
    if (peer === null) return
    const entry = unused.get(peer)
    if (entry === undefined) return
    remove(peer, entry)
  }
  server.on('request', used)
  server.on('upgrade', used)
  return {
    destroy () {
      const count = unused.size
      for (const { socket } of unused.values()) socket.destroy()
      unused.clear()
      return count
    },
    destroyOldest () {
      const oldest = unused.entries().next()
      if (oldest.done === true) return false
      const [peer, entry] = oldest.value
      remove(peer, entry)
      entry.socket.destroy()
      return true
    },
    stop () {
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
    }
  }
}
