// Idle keep-alive connections per client address. Node closes each one
// after keepAliveTimeout, but a client may open thousands and keep them
// all idle that long. A response on a connection from an address that
// already has `perAddress` idle ones says `Connection: close` and closes the
// connection after it (RFC 9112 9.6): the client knows, so it never sends a
// request on a connection the server is closing. Closing an idle connection
// instead would race with a client reusing it, which then sees a reset (a
// client of many BOSH sessions from one address did, in test/system/load).
// Only past twice that number, which responses in flight together can
// reach, is the connection idle longest closed. A connection with a request
// in progress (a held BOSH request) is never idle here, nor is a WebSocket.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export interface IdleConnectionsOptions {
  /** Most idle keep-alive connections kept from one address. */
  perAddress: number
  /** Called for each connection not kept alive, or closed, for being one too many. */
  onClose?: (address: string) => void
}

const kInFlight = Symbol('megaphone.requests-in-flight')
const kIdleOf = Symbol('megaphone.idle-set')
type Tracked = Socket & { [kInFlight]?: number, [kIdleOf]?: Set<Socket> | null }

export function limitIdleConnections (server: Server, options: IdleConnectionsOptions): void {
  const { perAddress, onClose } = options
  const hardLimit = perAddress * 2
  // Per address, its idle connections in the order they went idle (oldest first).
  const idle = new Map<string, Set<Socket>>()

  const leave = (socket: Tracked): void => {
    const set = socket[kIdleOf]
    if (set === undefined || set === null) return
    socket[kIdleOf] = null
    set.delete(socket)
    if (set.size === 0 && socket.remoteAddress !== undefined && idle.get(socket.remoteAddress) === set) idle.delete(socket.remoteAddress)
  }

  function onSocketClose (this: Tracked): void { leave(this) }

  function onResponseClose (this: ServerResponse): void {
    const socket = this.req.socket as Tracked
    const inFlight = (socket[kInFlight] ?? 1) - 1
    socket[kInFlight] = inFlight
    if (inFlight > 0 || socket.destroyed || !socket.writable) return
    const address = socket.remoteAddress
    if (address === undefined) return
    let set = idle.get(address)
    if (set === undefined) idle.set(address, set = new Set())
    set.add(socket)
    socket[kIdleOf] = set
    if (set.size <= hardLimit) return
    const oldest = set.values().next().value as Tracked
    leave(oldest)
    oldest.destroy()
    onClose?.(address)
  }

  // First, before the application's listener may answer synchronously.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    // The request's socket (over HTTPS the TLS one, not the TCP one `connection` gives).
    const socket = req.socket as Tracked
    if (socket[kInFlight] === undefined) socket.once('close', onSocketClose)
    socket[kInFlight] = (socket[kInFlight] ?? 0) + 1
    leave(socket)
    const address = socket.remoteAddress
    if (address !== undefined && res.shouldKeepAlive && (idle.get(address)?.size ?? 0) >= perAddress) {
      // RFC 9112 9.6: `Connection: close` on this response, and the connection closes after it.
      res.shouldKeepAlive = false
      onClose?.(address)
    }
    res.once('close', onResponseClose)
  })
  // A WebSocket is no keep-alive connection.
  server.on('upgrade', (req: IncomingMessage) => { leave(req.socket as Tracked) })
}
