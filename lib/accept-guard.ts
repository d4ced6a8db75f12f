// The listening socket against floods and the open-file limit.
//
// The cap: server.maxConnections, below the open-file limit (file-limit.ts).
// Past it Node accepts each new connection and closes it at once ('drop'),
// so existing sessions keep their descriptors and the process never runs out.
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
  log: Log
  /** A connection closed at the cap. */
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

export function guardAccept (server: Server, options: AcceptGuardOptions): AcceptGuard {
  const { log, onDrop, onEmfile, shed } = options
  if (options.maxConnections !== null) server.maxConnections = options.maxConnections
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
