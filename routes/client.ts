// The browser chat page (public/) and Strophe.js, served from Megaphone's own
// origin so the page's BOSH requests are same-origin: no CORS preflights, and
// the page can run under a Content-Security-Policy of 'self'. Strophe comes
// from the installed npm package, never a copy in the repository.
//
// The files are small and few: each is read once when the plugin registers
// and answered from memory with a strong ETag, so a revalidation is a 304.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { escapeXML } from '../lib/xml.js'

export interface ClientOptions {
  /** Directory holding index.html, chat.js and chat.css. Default: the project's public/. */
  root?: string
  /** Path of the BOSH endpoint the page connects to. Default /http-bind. */
  boshPath?: string
  /** Path of the WebSocket endpoint the page tries first; null when none is served. Default /xmpp-websocket. */
  websocketPath?: string | null
}

interface Asset {
  body: Buffer
  etag: string
  headers: Record<string, string>
}

const JS = 'text/javascript; charset=utf-8'

// Nothing is fingerprinted, so every use revalidates; the ETag keeps that to a 304.
const CACHE_CONTROL = 'no-cache'

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

  serve(app, '/', asset(Buffer.from(html), 'text/html; charset=utf-8', { 'content-security-policy': PAGE_CSP }))
  serve(app, '/client/chat.js', asset(await readFile(join(root, 'chat.js')), JS))
  serve(app, '/client/chat.css', asset(await readFile(join(root, 'chat.css')), 'text/css; charset=utf-8'))
  // The ESM build has no imports of its own, so chat.js imports it as is.
  serve(app, '/vendor/strophe.js', asset(await readFile(join(strophe, 'strophe.esm.js')), JS))
  // Named by the build's sourceMappingURL, relative to /vendor/; fetched only by developer tools.
  serve(app, '/vendor/strophe.esm.js.map', asset(await readFile(join(strophe, 'strophe.esm.js.map')), 'application/json'))
}

function asset (body: Buffer, contentType: string, extra: Record<string, string> = {}): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  return {
    body,
    etag,
    headers: {
      'content-type': contentType,
      etag,
      'cache-control': CACHE_CONTROL,
      'x-content-type-options': 'nosniff',
      ...extra
    }
  }
}

// GET only: Fastify adds HEAD for it, sending these headers (Content-Length included) without the body.
function serve (app: FastifyInstance, url: string, { body, etag, headers }: Asset): void {
  app.get(url, async (request: FastifyRequest, reply: FastifyReply) => {
    // RFC 9110 13.1.2: If-None-Match uses the weak comparison. 15.4.5: a 304
    // carries the validator and caching fields, not the representation's.
    if (noneMatch(request.headers['if-none-match'], etag)) {
      return await reply.code(304).headers({ etag, 'cache-control': CACHE_CONTROL }).send()
    }
    return await reply.headers(headers).send(body)
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
