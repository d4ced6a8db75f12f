// The listening socket against floods and the open-file limit.
//
// The cap, below the open-file limit (file-limit.ts). A connection accepted
// past it is marked busy: its request (or WebSocket upgrade) is answered 503
// with Retry-After and Connection: close, a clear answer, instead of being
// served (isBusy, app.ts and routes/xmpp-websocket.ts). Past the cap and
// BUSY_ANSWERS more, Node's server.maxConnections accepts each connection
// and closes it at once ('drop'): a flood then costs nothing but the accept.
// Either way existing sessions keep their descriptors and the process never
// runs out (the busy ones come out of file-limit.ts's reserve).
//
// What Node 20 does on EMFILE, found by trying (test/accept-guard.test.ts and
// test/system/file-limit-emfile.test.ts): libuv keeps one spare descriptor; when
// accept() fails with EMFILE or ENFILE it closes the spare, accepts and
// closes every waiting connection, and opens the spare again. No error
// reaches JavaScript, the accept loop goes on, and it serves connections
// again as soon as descriptors are free. Only when the spare cannot be opened
// again (another thread took the descriptor) does the server emit 'error'
// (syscall accept): Fastify listens for it only while listen() runs, so
// unhandled it would crash the process. And libuv then calls accept again at
// once, in the same loop, for as long as connections wait: unless the
// handler frees a descriptor, that loop never ends. So the handler counts
// and logs it, then frees one: Megaphone's own spare first, else the
// connection that has waited longest without sending a request.
import { closeSync, openSync } from 'node:fs'
import type { Server } from 'node:net'
import type { Log } from './bosh/session.js'

export interface AcceptGuardOptions {
  /** Most connections at once; null: no cap. */
  maxConnections: number | null
  /** Connections past the cap answered 503 before Node drops the rest unread. Default BUSY_ANSWERS. */
  busyAnswers?: number
  log: Log
  /** A connection refused at the cap: answered 503 (busy), or closed unread past the answers (drop). */
  onDrop?: () => void
  /** accept() failed with EMFILE or ENFILE. */
  onEmfile?: () => void
  /** Closes one connection that has not sent a request; false when there is none. */
  shed?: () => boolean
}

export interface AcceptGuard {
  /** Closes the spare descriptor (shutdown). */
  stop (): void
}

/** Delay before taking the spare descriptor again after it was used. */
const SPARE_RETRY_MS = 100

/**
 * Connections past the cap that are answered 503 rather than closed unread:
 * at most this many descriptors of file-limit.ts's reserve (256 by default;
 * server-guards.ts takes no more than a quarter of a smaller one).
 */
export const BUSY_ANSWERS = 64

const BUSY = Symbol('megaphone.busy')

/** Retry-After of the 503 a busy connection gets (s). */
export const BUSY_RETRY_AFTER_SECONDS = 5

/** Whether this connection was accepted past the cap: answer its request 503. */
export function isBusy (socket: object): boolean {
  return (socket as { [BUSY]?: true })[BUSY] === true
}

/** Node's count of the server's open connections, the one maxConnections is checked against (net.Server#_connections). */
function openConnections (server: Server): number {
  const n = (server as unknown as { _connections?: unknown })._connections
  return typeof n === 'number' ? n : 0
}

export function guardAccept (server: Server, options: AcceptGuardOptions): AcceptGuard {
  const { log, onDrop, onEmfile, shed } = options
  const cap = options.maxConnections
  if (cap !== null) {
    server.maxConnections = cap + (options.busyAnswers ?? BUSY_ANSWERS)
    // After Node's own listener: the connection counts among the open ones already.
    server.on('connection', (socket: object) => {
      if (openConnections(server) <= cap) return
      ;(socket as { [BUSY]?: true })[BUSY] = true
      onDrop?.()
    })
  }
  server.on('drop', () => { onDrop?.() })

  let spare: number | null = null
  let retry: NodeJS.Timeout | null = null
  let stopped = false
  const takeSpare = (): void => {
    retry = null
    if (stopped || spare !== null) return
    try {
      spare = openSync('/dev/null', 'r')
    } catch {
      // Still out of descriptors: try again later (bounded: one timer at a time, stopped at shutdown).
      retry = setTimeout(takeSpare, SPARE_RETRY_MS).unref()
    }
  }
  takeSpare()

  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.syscall === 'accept' && (err.code === 'EMFILE' || err.code === 'ENFILE')) {
      onEmfile?.()
      if (spare !== null) {
        closeSync(spare)
        spare = null
        retry ??= setTimeout(takeSpare, SPARE_RETRY_MS).unref()
      } else {
        shed?.()
      }
      return
    }
    // Before listening, listen() itself reports the error (EADDRINUSE) to its caller.
    if (!server.listening) return
    // Not a refusal: say what and where, once per event (these are rare), and keep serving.
    log.error({ code: err.code, syscall: err.syscall }, 'listening socket error')
  })

  return {
    stop () {
      stopped = true
      if (retry !== null) clearTimeout(retry)
      retry = null
      if (spare !== null) closeSync(spare)
      spare = null
    }
  }
}
