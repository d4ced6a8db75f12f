// One static file served from memory, precompressed (lib/http/precompressed.ts):
// the representation Accept-Encoding picks, its own strong ETag and 304, Vary,
// and the caching the caller chose. For routes/client.ts and routes/converse.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { choose, precompress, type Effort, type Precompressed } from '../lib/http/precompressed.js'

export interface Asset {
  variants: Precompressed
  cacheControl: string
  headers: Record<string, string>
}

/** Files under a stable name: every use revalidates; the ETag keeps that to a 304. */
export const CACHE_CONTROL = 'no-cache'
/** A fingerprinted name never changes content (RFC 8246: no revalidation, even on reload). */
export const IMMUTABLE = 'public, max-age=31536000, immutable'

/** `body` compressed (on the thread pool) and the headers it goes out with. */
export async function asset (body: Buffer, contentType: string, cacheControl = CACHE_CONTROL, extra: Record<string, string> = {}, effort: Effort = 'max'): Promise<Asset> {
  return {
    variants: await precompress(body, effort),
    cacheControl,
    headers: { 'content-type': contentType, 'x-content-type-options': 'nosniff', ...extra }
  }
}

/** GET only: Fastify adds HEAD for it, sending these headers (Content-Length included) without the body. */
export function serve (app: FastifyInstance, url: string, { variants, cacheControl, headers }: Asset): void {
  // RFC 9110 12.5.5: the choice depends on Accept-Encoding, on 304s too (15.4.5).
  const vary: Record<string, string> = variants.encoded.size === 0 ? {} : { vary: 'Accept-Encoding' }
  app.get(url, async (request: FastifyRequest, reply: FastifyReply) => {
    const chosen = choose(variants, request.headers['accept-encoding'])
    const validators = { etag: chosen.etag, 'cache-control': cacheControl, ...vary }
    // RFC 9110 13.1.2: If-None-Match uses the weak comparison. 15.4.5: a 304
    // carries the validator and caching fields, not the representation's.
    if (noneMatch(request.headers['if-none-match'], chosen.etag)) {
      return await reply.code(304).headers(validators).send()
    }
    const coding = chosen.coding === null ? {} : { 'content-encoding': chosen.coding }
    return await reply.headers(headers).headers(validators).headers(coding).send(chosen.body)
  })
}

function noneMatch (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}
