// BOSH responses compressed for a client that asked (XEP-0124 5: Accept-Encoding).
// Synchronous and stateless: each response is compressed on its own, with no
// zlib context kept between them (a held request costs nothing more), and
// the event loop never hands a response to the thread pool, where it could
// be overtaken by the next one on the same connection.
import { constants, deflateSync, gzipSync } from 'node:zlib'
import type { RequestCoding } from './content-coding.js'

/**
 * zlib level 6 (zlib's default). Level 1 saves about a third of the CPU
 * time on a few-KiB XML body for some 10 % more bytes: see
 * docs/compression.md for the figures (scripts/bench/bosh-compress.ts).
 */
export const RESPONSE_LEVEL = constants.Z_DEFAULT_COMPRESSION

/** The response body in `coding`. */
export function compressResponse (body: string, coding: RequestCoding): Buffer {
  const bytes = Buffer.from(body, 'utf8')
  return coding === 'gzip' ? gzipSync(bytes, { level: RESPONSE_LEVEL }) : deflateSync(bytes, { level: RESPONSE_LEVEL })
}
