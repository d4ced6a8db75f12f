// The bounds on slow, greedy and hostile clients that act on the HTTP
// server's connections (README "Hostile clients"), set up in one place:
// connections that send no request in time (unused-sockets.ts), idle
// keep-alive connections per address (idle-connections.ts), and the
// connection cap below the open-file limit with the accept-error handler
// (accept-guard.ts, file-limit.ts). Every refusal goes to `refusals`.
import type { Server } from 'node:http'
import type { Clock } from './clock.js'
import type { Log } from './bosh/session.js'
import type { HttpConfig, LimitsConfig } from './config.js'
import type { Refusals } from './refusals.js'
import { trackUnusedSockets, type UnusedSockets } from './unused-sockets.js'
import { limitIdleConnections } from './idle-connections.js'
import { BUSY_ANSWERS, guardAccept } from './accept-guard.js'
import { connectionCap, openFilesLimit } from './file-limit.js'

/** How often Node checks connections for headersTimeout and requestTimeout (ms): the bounds' precision. */
const CONNECTIONS_CHECK_MS = 1_000

export interface ServerGuards {
  unusedSockets: UnusedSockets
  /** The connection cap in force; null when there is none (open-file limit unknown). */
  maxConnections: number | null
  /** Stops the timers and gives back the spare descriptor (shutdown). */
  stop (): void
}

/** A connection's peer address for a log line, when it is known. */
export function addressOf (socket: { remoteAddress?: string }): Record<string, string> {
  return socket.remoteAddress === undefined ? {} : { ip: socket.remoteAddress }
}

export function guardServer (server: Server, options: { http: HttpConfig, limits: LimitsConfig, refusals: Refusals, log: Log, clock?: Clock }): ServerGuards {
  const { http, limits, refusals, log, clock } = options
  // Headers trickled on a connection: Node's check, which runs every
  // connectionsCheckingInterval (30 s by default: a bound up to 30 s late).
  server.headersTimeout = http.requestHeadersSeconds * 1000
  ;(server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = CONNECTIONS_CHECK_MS
  const unusedSockets = trackUnusedSockets(server, {
    firstRequestMs: http.requestHeadersSeconds * 1000,
    onTimeout: (socket) => { refusals.count('request-headers-timeout', addressOf(socket)) },
    clock
  })
  // Behind a trusted proxy every connection comes from the proxy: a limit per TCP peer would be a limit on the proxy.
  if (limits.idleConnectionsPerAddress > 0 && !http.trustProxy) {
    limitIdleConnections(server, {
      perAddress: limits.idleConnectionsPerAddress,
      onClose: (ip) => { refusals.count('idle-connections-per-address', { ip }) }
    })
  }
  const maxConnections = connectionCap(limits.maxConnections, limits.reservedFiles, openFilesLimit())
  const acceptGuard = guardAccept(server, {
    maxConnections,
    busyAnswers: Math.min(BUSY_ANSWERS, Math.floor(limits.reservedFiles / 4)),
    log,
    onDrop: () => { refusals.count('max-connections') },
    onEmfile: () => { refusals.count('accept-emfile') },
    shed: () => unusedSockets.destroyOldest()
  })
  return {
    unusedSockets,
    maxConnections,
    stop () {
      unusedSockets.stop()
      acceptGuard.stop()
      refusals.flush()
    }
  }
}
