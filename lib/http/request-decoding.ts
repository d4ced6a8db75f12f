// Request bodies sent with a Content-Encoding (XEP-0124 7.2: after the
// creation response's `accept`, a client MAY compress its requests). The
// limit is on the DECOMPRESSED size: zlib stops as soon as its output passes
// it, so a zip bomb costs at most `maxBytes` of inflating, never its full size.
import { inflate, inflateRaw, gunzip, type InputType, type ZlibOptions } from 'node:zlib'
import { ErrorCode, HttpError } from '../errors.js'
import type { RequestCoding } from './content-coding.js'

type Inflater = (buf: InputType, options: ZlibOptions, callback: (err: Error | null, result: Buffer) => void) => void

/** Decompresses `body` (on libuv's thread pool); rejects with an HttpError: 413 past `maxBytes`, 400 for data that is not `coding`. */
export async function decodeBody (body: Buffer, coding: RequestCoding, maxBytes: number): Promise<Buffer> {
  const inflater: Inflater = coding === 'gzip' ? gunzip : isZlibHeader(body) ? inflate : inflateRaw
  return await new Promise((resolve, reject) => {
    // maxOutputLength: zlib ends the stream with ERR_BUFFER_TOO_LARGE once its output exceeds it.
    inflater(body, { maxOutputLength: maxBytes }, (err, result) => {
      if (err === null) { resolve(result); return }
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ERR_BUFFER_TOO_LARGE') reject(new HttpError(ErrorCode.HTTP_DECOMPRESSED_TOO_LARGE, 413, `request body over ${maxBytes} bytes once decompressed`))
      else reject(new HttpError(ErrorCode.HTTP_CORRUPT_ENCODING, 400, `request body is not valid ${coding} data`))
    })
  })
}

/**
 * RFC 9110 8.4.1.2: `deflate` is the zlib format (RFC 1950), but some
 * clients send raw deflate (RFC 1951), as some servers do to browsers, which
 * accept both. A zlib stream starts with CM=8 and a header that is a multiple of 31.
 */
function isZlibHeader (body: Buffer): boolean {
  if (body.length < 2) return true
  const cmf = body[0] as number
  const flg = body[1] as number
  return (cmf & 0x0f) === 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 === 0
}
