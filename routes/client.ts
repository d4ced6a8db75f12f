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
import type { FastifyInstance } from 'fastify'
import { escapeXML } from '../lib/xml.js'
import { fingerprint } from '../lib/http/precompressed.js'
import { asset, CACHE_CONTROL, IMMUTABLE, serve } from './static-asset.js'

export { IMMUTABLE } from './static-asset.js'

export interface ClientOptions {
  /** Directory holding index.html, chat.js and chat.css. Default: the project's public/. */
  root?: string
  /** Path of the BOSH endpoint the page connects to. Default /http-bind. */
  boshPath?: string
  /** Path of the WebSocket endpoint the page tries first; null when none is served. Default /xmpp-websocket. */
  websocketPath?: string | null
}

const JS = 'text/javascript; charset=utf-8'

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
  // A page of one's own that imports /vendor/strophe.js instead has nothing to rewrite here.
  html = html.replace(STROPHE_MIN_SCRIPT, `<script defer src="${stropheMinPath.slice(1)}"></script>`)

  const [page, chat, css, min, minMap, esm, esmMap] = await Promise.all([
    asset(Buffer.from(html), 'text/html; charset=utf-8', CACHE_CONTROL, { 'content-security-policy': PAGE_CSP }),
    asset(await readFile(join(root, 'chat.js')), JS),
    asset(await readFile(join(root, 'chat.css')), 'text/css; charset=utf-8'),
    asset(stropheMin, JS),
    asset(await readFile(join(strophe, 'strophe.umd.min.js.map')), 'application/json', CACHE_CONTROL, {}, 'fast'),
    asset(await readFile(join(strophe, 'strophe.esm.js')), JS),
    asset(await readFile(join(strophe, 'strophe.esm.js.map')), 'application/json', CACHE_CONTROL, {}, 'fast')
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

// This file runs from routes/ (tests) and from dist/routes/ (the build); public/ sits at the project root.
export function publicRoot (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '../public'), join(here, '../../public')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? join(here, '../public')
}

function stropheDist (): string {
  return join(dirname(createRequire(import.meta.url).resolve('strophe.js/package.json')), 'dist')
}
