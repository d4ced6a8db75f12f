// The browser chat page (public/) and Strophe.js, served from Megaphone's own
// origin so the page's BOSH requests are same-origin: no CORS preflights, and
// the page can run under a Content-Security-Policy of 'self'. Strophe comes
// from the installed npm package, never a copy in the repository.
//
// The files are small and few: each is read and compressed (brotli, gzip)
// once when the plugin registers (lib/http/precompressed.ts), and answered
// from memory by Accept-Encoding, with a strong ETag per coding, so a
// revalidation is a 304. The page loads Strophe's minified build under a
// fingerprinted URL that browsers keep for a year; the older
// /vendor/strophe.js (the ESM build, which other pages import) stays.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { escapeXML } from '../lib/xml.js'
import { choose, fingerprint, precompress, type Precompressed } from '../lib/http/precompressed.js'

export interface ClientOptions {
  /** Directory holding index.html, chat.js and chat.css. Default: the project's public/. */
  root?: string
  /** Path of the BOSH endpoint the page connects to. Default /http-bind. */
  boshPath?: string
  /** Path of the WebSocket endpoint the page tries first; null when none is served. Default /xmpp-websocket. */
  websocketPath?: string | null
}

interface Asset {
  variants: Precompressed
  cacheControl: string
  headers: Record<string, string>
}

const JS = 'text/javascript; charset=utf-8'

// Files under a stable name: every use revalidates; the ETag keeps that to a 304.
const CACHE_CONTROL = 'no-cache'
// A fingerprinted name never changes content (RFC 8246: no revalidation, even on reload).
export const IMMUTABLE = 'public, max-age=31536000, immutable'

/** Strophe's minified build under its stable name, which index.html names and the page gets fingerprinted. */
export const STROPHE_MIN_PATH = '/vendor/strophe.min.js'
const STROPHE_MIN_SCRIPT = /<script defer src="vendor\/strophe\.min\.js"><\/script>/

// The page needs nothing from elsewhere: its script, style and BOSH are all
// on this origin. data: is for the empty favicon that spares a 404.
export const PAGE_CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join('; ')

/** The elements in index.html that tell chat.js where BOSH and WebSocket are. */
const BOSH_PATH_META = /<meta name="bosh-path" content="[^"]*">/
const WEBSOCKET_PATH_META = /<meta name="websocket-path" content="[^"]*">/

export default async function client (app: FastifyInstance, opts: ClientOptions = {}): Promise<void> {
  const root = opts.root ?? publicRoot()
  const strophe = stropheDist()

  let html = await readFile(join(root, 'index.html'), 'utf8')
  if (opts.boshPath !== undefined) {
    if (!BOSH_PATH_META.test(html)) throw new Error(`${join(root, 'index.html')} has no <meta name="bosh-path">`)
    html = html.replace(BOSH_PATH_META, `<meta name="bosh-path" content="${escapeXML(opts.boshPath)}">`)
  }
  if (opts.websocketPath !== undefined) {
    if (!WEBSOCKET_PATH_META.test(html)) throw new Error(`${join(root, 'index.html')} has no <meta name="websocket-path">`)
    html = html.replace(WEBSOCKET_PATH_META, `<meta name="websocket-path" content="${escapeXML(opts.websocketPath ?? '')}">`)
  }

  // The minified build is UMD: as a classic script it defines Strophe, $iq, $msg and $pres on globalThis.
  const stropheMin = await readFile(join(strophe, 'strophe.umd.min.js'))
  const stropheMinPath = `/vendor/strophe.${fingerprint(stropheMin)}.min.js`
  if (!STROPHE_MIN_SCRIPT.test(html)) throw new Error(`${join(root, 'index.html')} has no <script defer src="vendor/strophe.min.js">`)
  html = html.replace(STROPHE_MIN_SCRIPT, `<script defer src="${stropheMinPath.slice(1)}"></script>`)

  const [page, chat, css, min, minMap, esm, esmMap] = await Promise.all([
    asset(Buffer.from(html), 'text/html; charset=utf-8', CACHE_CONTROL, { 'content-security-policy': PAGE_CSP }),
    asset(await readFile(join(root, 'chat.js')), JS),
    asset(await readFile(join(root, 'chat.css')), 'text/css; charset=utf-8'),
    asset(stropheMin, JS),
    asset(await readFile(join(strophe, 'strophe.umd.min.js.map')), 'application/json'),
    asset(await readFile(join(strophe, 'strophe.esm.js')), JS),
    asset(await readFile(join(strophe, 'strophe.esm.js.map')), 'application/json')
  ])
  serve(app, '/', page)
  serve(app, '/client/chat.js', chat)
  serve(app, '/client/chat.css', css)
  serve(app, stropheMinPath, { ...min, cacheControl: IMMUTABLE })
  serve(app, STROPHE_MIN_PATH, min)
  // Named by the minified build's sourceMappingURL, relative to /vendor/; fetched only by developer tools.
  serve(app, '/vendor/strophe.umd.min.js.map', minMap)
  // The ESM build has no imports of its own: pages that import it as a module keep working.
  serve(app, '/vendor/strophe.js', esm)
  serve(app, '/vendor/strophe.esm.js.map', esmMap)
}

async function asset (body: Buffer, contentType: string, cacheControl = CACHE_CONTROL, extra: Record<string, string> = {}): Promise<Asset> {
  return {
    variants: await precompress(body),
    cacheControl,
    headers: { 'content-type': contentType, 'x-content-type-options': 'nosniff', ...extra }
  }
}

// GET only: Fastify adds HEAD for it, sending these headers (Content-Length included) without the body.
function serve (app: FastifyInstance, url: string, { variants, cacheControl, headers }: Asset): void {
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

// This file runs from routes/ (tests) and from dist/routes/ (the build); public/ sits at the project root.
export function publicRoot (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '../public'), join(here, '../../public')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? join(here, '../public')
}

function stropheDist (): string {
  return join(dirname(createRequire(import.meta.url).resolve('strophe.js/package.json')), 'dist')
}
