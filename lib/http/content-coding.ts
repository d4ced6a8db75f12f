// HTTP content codings (RFC 9110 8.4): choosing one for a response from the
// client's Accept-Encoding, and naming the one of a request body. Pure: no
// HTTP server, no zlib.

/** The codings Megaphone produces: brotli only for the static files, which are compressed once at start. */
export type Coding = 'br' | 'gzip' | 'deflate'

/** The codings a request body may carry (XEP-0124 7.2 `accept`, in this order). */
export const REQUEST_CODINGS = ['gzip', 'deflate'] as const
export type RequestCoding = (typeof REQUEST_CODINGS)[number]

/**
 * RFC 9110 12.5.3: the first of `offered` (the server's order of preference)
 * that the Accept-Encoding header allows, or null for the identity coding.
 * No header means no preference, for which identity is the safe answer (and
 * XEP-0124 5 lets the connection manager compress only when asked). A coding
 * is allowed when it is listed, or `*` is, with a non-zero q; an explicit
 * q=0 refuses it even when `*` allows the rest. `x-gzip` is gzip (8.4.1.3).
 * Quality ranks no further than allowed or refused: a client that lists gzip
 * at all decodes it, and the server's order picks the better coding.
 */
export function negotiate (header: string | undefined, offered: readonly Coding[]): Coding | null {
  if (header === undefined || header === '') return null
  let star: boolean | null = null
  const listed = new Map<string, boolean>()
  // Bounded: a header is at most Node's 16 KiB of headers; at most 64 members are read.
  const members = header.split(',', 64)
  for (const member of members) {
    const [rawName = '', ...params] = member.split(';')
    let name = rawName.trim().toLowerCase()
    if (name === '') continue
    if (name === 'x-gzip') name = 'gzip'
    const allowed = quality(params) > 0
    if (name === '*') star = allowed
    else if (!listed.has(name)) listed.set(name, allowed)
  }
  for (const coding of offered) {
    const allowed = listed.get(coding) ?? star ?? false
    if (allowed) return coding
  }
  return null
}

/** RFC 9110 12.4.2: `q=` from 0 to 1 with at most three decimals; absent is 1; a malformed weight counts as 0 (not allowed). */
function quality (params: string[]): number {
  for (const param of params) {
    const m = /^\s*q\s*=\s*([0-9](?:\.[0-9]{0,3})?)\s*$/i.exec(param)
    if (m !== null) return Math.min(Number(m[1]), 1)
    if (/^\s*q\s*=/i.test(param)) return 0
  }
  return 1
}

/** A request's Content-Encoding: a coding it may carry, null for none (or identity), or 'unsupported'. */
export function requestCoding (header: string | undefined): RequestCoding | null | 'unsupported' {
  if (header === undefined) return null
  // Bounded: one coding is all that is accepted, so a few members tell.
  const codings = header.split(',', 8).map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity')
  if (codings.length === 0) return null
  // One coding only: stacked codings (gzip, gzip) are how a bomb nests; no client needs them.
  const [coding] = codings
  if (codings.length === 1 && coding !== undefined) {
    const name = coding === 'x-gzip' ? 'gzip' : coding
    if ((REQUEST_CODINGS as readonly string[]).includes(name)) return name as RequestCoding
  }
  return 'unsupported'
}
