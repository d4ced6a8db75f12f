// Static files compressed once, at start: brotli at its best quality and
// gzip at level 9, each with a strong ETag of its own (RFC 9110 8.8.3: a
// validator names one representation, and each coding is one), chosen per
// request by Accept-Encoding. The work goes to libuv's thread pool, and the
// result is kept by content hash, so a second app in the same process (tests)
// does not pay for it again.
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import { negotiate, type Coding } from './content-coding.js'

const brotli = promisify(brotliCompress)
const gzipAsync = promisify(gzip)

/** Codings offered for static files, best first. */
export const STATIC_CODINGS: readonly Coding[] = ['br', 'gzip']

/** A coding is kept only when it saves at least this share of the bytes. */
const MIN_SAVING = 0.1

export interface Representation {
  body: Buffer
  etag: string
  /** null for identity */
  coding: Coding | null
}

export interface Precompressed {
  identity: Representation
  /** Only the codings that saved enough. */
  encoded: ReadonlyMap<Coding, Representation>
}

/**
 * How hard to compress: `max` (brotli 11, gzip 9) for what every browser
 * loads; `fast` (brotli 5, gzip 6) for what only developer tools fetch
 * (source maps), a tenth of the CPU at start for some 10 % more bytes
 * (docs/compression.md).
 */
export type Effort = 'max' | 'fast'
const LEVELS = { max: { brotli: constants.BROTLI_MAX_QUALITY, gzip: constants.Z_BEST_COMPRESSION }, fast: { brotli: 5, gzip: 6 } } as const

// Keyed by effort and the SHA-256 of the content; a process serves a handful of files.
const cache = new Map<string, Promise<Precompressed>>()

/** `body` as identity, brotli and gzip (the last two when they save at least 10 %). */
export async function precompress (body: Buffer, effort: Effort = 'max'): Promise<Precompressed> {
  const hash = createHash('sha256').update(body).digest('base64url')
  const key = `${effort}:${hash}`
  let done = cache.get(key)
  if (done === undefined) {
    done = build(body, hash, effort)
    cache.set(key, done)
    done.catch(() => cache.delete(key))
  }
  return await done
}

async function build (body: Buffer, hash: string, effort: Effort): Promise<Precompressed> {
  const levels = LEVELS[effort]
  const [br, gz] = await Promise.all([
    brotli(body, { params: { [constants.BROTLI_PARAM_QUALITY]: levels.brotli, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }),
    gzipAsync(body, { level: levels.gzip })
  ])
  const tag = hash.slice(0, 27)
  const encoded = new Map<Coding, Representation>()
  for (const [coding, bytes] of [['br', br], ['gzip', gz]] as const) {
    if (bytes.length <= body.length * (1 - MIN_SAVING)) encoded.set(coding, { body: bytes, etag: `"${tag}-${coding}"`, coding })
  }
  return { identity: { body, etag: `"${tag}"`, coding: null }, encoded }
}

/** The representation for a request's Accept-Encoding. */
export function choose (asset: Precompressed, acceptEncoding: string | undefined): Representation {
  const coding = negotiate(acceptEncoding, STATIC_CODINGS.filter((c) => asset.encoded.has(c)))
  return (coding === null ? undefined : asset.encoded.get(coding)) ?? asset.identity
}

/** The short content hash that names a fingerprinted URL. */
export function fingerprint (body: Buffer): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 12)
}
