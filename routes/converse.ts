// Converse.js, the full-featured web XMPP client, served from the installed
// npm package (nothing of it is committed) at /converse/, from the same
// origin as Megaphone's endpoints and preconfigured for them: WebSocket first
// (on which Converse resumes streams with XEP-0198), BOSH as its fallback.
//
// /converse/ is a page of Megaphone's own; /converse/init.js starts Converse
// with the settings the page carries as JSON (no inline script, so the page
// runs under a Content-Security-Policy); /converse/dist/ is the package's
// dist/ directory as it is (its code loads its own chunks from there).
// The files every visit loads (its script, style, emoji data and OMEMO
// library: 2.2 MB) are compressed once at start with the fast effort, 0.15 s
// of CPU on the thread pool, and go out as brotli or gzip (0.4 MB); the rest
// (a locale chunk per language, images, fonts) as the files are.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { escapeXML } from '../lib/xml.js'
import { publicRoot } from './client.js'
import { asset, serve } from './static-asset.js'

export interface ConverseOptions {
  boshPath: string
  /** null when the WebSocket endpoint is off: Converse then uses BOSH. */
  websocketPath: string | null
  /** The domain a bare user name logs in to. */
  defaultDomain: string
}

/** Where the page lives. */
export const CONVERSE_PATH = '/converse/'

// Converse builds its UI with inline styles, loads its OMEMO library as
// WebAssembly, and shows images from the web (its sponsors' logos, avatars,
// images linked in messages); everything else comes from this origin.
export const CONVERSE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https:",
  "media-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'"
].join('; ')

/** The files of dist/ that every visit loads, served precompressed. */
const PRECOMPRESSED: ReadonlyArray<readonly [string, string]> = [
  ['converse.min.js', 'text/javascript; charset=utf-8'],
  ['converse.min.css', 'text/css; charset=utf-8'],
  ['emoji.json', 'application/json; charset=utf-8'],
  ['libomemo.esm.min.js', 'text/javascript; charset=utf-8']
]

/** The installed converse.js package's dist/ directory, or null when it is not installed. */
export function converseDist (): string | null {
  try {
    // The package exports dist/* (not its package.json).
    const dist = dirname(createRequire(import.meta.url).resolve('converse.js/dist/converse.min.js'))
    return existsSync(join(dist, 'converse.min.js')) ? dist : null
  } catch {
    return null
  }
}

export default async function converse (app: FastifyInstance, opts: ConverseOptions): Promise<void> {
  const dist = converseDist()
  if (dist === null) {
    app.log.warn('converse.js is not installed (npm install): /converse/ is not served')
    return
  }
  const settings = {
    // Relative paths: Strophe makes them ws(s):// or http(s):// URLs on this origin.
    ...(opts.websocketPath === null ? {} : { websocket_url: opts.websocketPath }),
    bosh_service_url: opts.boshPath,
    // Megaphone serves exactly these endpoints; no lookup of /.well-known/host-meta.
    discover_connection_methods: false,
    // Where Converse finds its emoji data and icons.
    assets_path: `${CONVERSE_PATH}dist/`,
    default_domain: opts.defaultDomain,
    allow_registration: false,
    view_mode: 'fullscreen',
    auto_reconnect: true,
    // XEP-0198: acknowledgements and resumption after a dropped connection.
    enable_smacks: true,
    loglevel: 'warn'
  }
  // In the page as JSON, which no browser runs as script; '<' escaped so it cannot end the element.
  const json = JSON.stringify(settings).replace(/</g, '\\u003c')
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Megaphone · Converse.js</title>
<link rel="icon" href="dist/images/favicon.ico">
<link rel="stylesheet" href="dist/converse.min.css">
<script id="megaphone-converse-settings" type="application/json">${json}</script>
<script type="module" src="dist/converse.min.js"></script>
<script type="module" src="init.js"></script>
</head>
<body class="converse-fullscreen">
<noscript>Converse.js needs JavaScript. The small chat page at <a href="${escapeXML('/')}">/</a> does too.</noscript>
</body>
</html>
`
  const init = await readFile(join(publicRoot(), 'converse-init.js'))

  const html = (reply: import('fastify').FastifyReply) => reply
    .type('text/html; charset=utf-8')
    .headers({ 'content-security-policy': CONVERSE_CSP, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
    .send(page)
  app.get(CONVERSE_PATH, async (_request, reply) => await html(reply))
  app.get(`${CONVERSE_PATH}init.js`, async (_request, reply) => await reply
    .type('text/javascript; charset=utf-8').headers({ 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).send(init))

  // Not fingerprinted (Converse names its files): revalidated with the ETag after an hour, as below.
  const compressed = await Promise.all(PRECOMPRESSED.map(async ([file, type]) =>
    [file, await asset(await readFile(join(dist, file)), type, 'public, max-age=3600', {}, 'fast')] as const))
  for (const [file, a] of compressed) serve(app, `${CONVERSE_PATH}dist/${file}`, a)

  await app.register(fastifyStatic, {
    root: dist,
    prefix: `${CONVERSE_PATH}dist/`,
    decorateReply: false,
    index: false,
    // Not fingerprinted: revalidated with the ETag after an hour.
    maxAge: 3_600_000,
    immutable: false,
    setHeaders: (res) => { res.setHeader('x-content-type-options', 'nosniff') }
  })
}
