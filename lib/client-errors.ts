// Node's 'clientError': a connection whose bytes are not HTTP, or a request
// that did not arrive in time (headersTimeout, requestTimeout). Fastify's own
// handler answers with a JSON body and logs at trace; this one says what went
// wrong in plain text, and counts the timeouts as refusals (lib/refusals.ts).
import type { Socket } from 'node:net'
import type { RefusalKind } from './refusals.js'

export interface ClientErrorOptions {
  /** For the answers' wording (s). */
  requestHeadersSeconds: number
  requestBodySeconds: number
  onRefusal: (kind: RefusalKind, socket: Socket) => void
}

/** Node's own view of a connection: the response of the request in progress, if any. */
type HttpSocket = Socket & { _httpMessage?: { headersSent?: boolean } | null }

export function clientErrorHandler (options: ClientErrorOptions): (err: Error & { code?: string }, socket: Socket) => void {
  const answer = (status: string, text: string): string =>
    `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
  const headersLate = answer('408 Request Timeout', `request headers not complete within ${options.requestHeadersSeconds} s\n`)
  const bodyLate = answer('408 Request Timeout', `request not complete within ${options.requestBodySeconds} s\n`)
  const tooLarge = answer('431 Request Header Fields Too Large', 'request headers too large\n')
  const malformed = answer('400 Bad Request', 'malformed HTTP request\n')

  return (err, socket) => {
    // A reset connection is gone: nothing to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    // Already answered and closing (unused-sockets.ts timed it out first): not a second refusal.
    if (socket.writableEnded) {
      socket.destroy()
      return
    }
    const inProgress = (socket as HttpSocket)._httpMessage
    let text: string
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // With a response assigned, the request's headers were complete: it is the body that is late.
      const kind: RefusalKind = inProgress == null ? 'request-headers-timeout' : 'request-body-timeout'
      options.onRefusal(kind, socket)
      text = kind === 'request-headers-timeout' ? headersLate : bodyLate
    } else {
      text = err.code === 'HPE_HEADER_OVERFLOW' ? tooLarge : malformed
    }
    // RFC 9110 15.5.9: 408, unless an answer has begun on this connection (then nothing more can be said).
    if (socket.writable && inProgress?.headersSent !== true) socket.write(text)
    socket.destroy()
  }
}
