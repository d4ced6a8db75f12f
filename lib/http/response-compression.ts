// BOSH responses compressed for a client that asked (XEP-0124 5: Accept-Encoding).
// Synchronous and stateless: each response is compressed on its own, with no
// zlib context kept between them (a held request costs nothing more), and
// the event loop never hands a response to the thread pool, where it could
// be overtaken by the next one on the same connection.
import { constants, deflateSync, gzipSync } from 'node:zlib'
import type { RequestCoding } from './content-coding.js'

/**
 * zlib level 1 (nginx's default too): on XMPP bodies it costs 30 to 60 %
 * less CPU than zlib's default 6 for 1 to 7 % more bytes; see
 * docs/compression.md for the figures (scripts/bench/bosh-compress.ts).
 */
export const RESPONSE_LEVEL = constants.Z_BEST_SPEED

/** The response body in `coding`. */
export function compressResponse (body: string, coding: RequestCoding): Buffer {
  const bytes = Buffer.from(body, 'utf8')
  // A window no larger than the body (plus zlib's 262-byte lookahead) loses
  // nothing and spares allocating zlib's full 32 KiB window and its tables
  // for every few-KiB response; any inflater reads a smaller window.
  const windowBits = Math.min(15, Math.max(9, Math.ceil(Math.log2(bytes.length + 262))))
  const options = { level: RESPONSE_LEVEL, windowBits }
  return coding === 'gzip' ? gzipSync(bytes, options) : deflateSync(bytes, options)
}
