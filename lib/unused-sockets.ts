// Connections that have not sent a request yet. Browsers open such sockets
// ahead of need (preconnect). Node's server.closeIdleConnections(), which
// Fastify's forceCloseConnections: 'idle' relies on, does not count them as
// idle, so a graceful shutdown would wait for each until headersTimeout
// (60 s) ended it.
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

export interface UnusedSockets {
  /** Destroys every connection that has not sent a request; returns how many there were. */
  destroy (): number
}

/** A connection's key on one listening socket: the peer's address and port. */
function peerOf (socket: Socket): string | null {
  const { remoteAddress, remotePort } = socket
  return remoteAddress === undefined || remotePort === undefined ? null : `${remoteAddress}|${remotePort}`
}

export function trackUnusedSockets (server: Server): UnusedSockets {
  // Keyed by peer rather than by socket: over HTTPS a request arrives on a TLS
  // socket, while `connection` gives the TCP socket underneath, and the TLS
  // handshake may still be under way when shutdown begins. An entry and its
  // close listener go at the first request, so that a connection in use (one
  // per BOSH session) keeps nothing here.
  const unused = new Map<string, { socket: Socket, onClose: () => void }>()
  server.on('connection', (socket: Socket) => {
    const peer = peerOf(socket)
    if (peer === null) return
    const onClose = (): void => { if (unused.get(peer)?.socket === socket) unused.delete(peer) }
    unused.set(peer, { socket, onClose })
    socket.once('close', onClose)
  })
  // A WebSocket upgrade is a request too ('upgrade' instead of 'request').
  const used = (req: { socket: Socket }): void => {
    if (unused.size === 0) return
    const peer = peerOf(req.socket)
    if (peer === null) return
    const entry = unused.get(peer)
    if (entry === undefined) return
    unused.delete(peer)
    entry.socket.off('close', entry.onClose)
  }
  server.on('request', used)
  server.on('upgrade', used)
  return {
    destroy () {
      const count = unused.size
      for (const { socket } of unused.values()) socket.destroy()
      unused.clear()
      return count
    }
  }
}
