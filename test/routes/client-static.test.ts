// The chat page's static files as a browser gets them: the minified Strophe
// under a fingerprinted, immutable URL, each file precompressed (brotli,
// gzip) and chosen by Accept-Encoding, with Vary, an ETag per coding and 304
// on revalidation; the old /vendor/strophe.js still there. Through inject():
// no ejabberd, no browser. The sizes it prints are the README's.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import client, { IMMUTABLE, STROPHE_MIN_PATH } from '../../routes/client.js'

const STROPHE_DIST = join(dirname(createRequire(import.meta.url).resolve('strophe.js/package.json')), 'dist')
const STROPHE_ESM = readFileSync(join(STROPHE_DIST, 'strophe.esm.js'))
const STROPHE_MIN = readFileSync(join(STROPHE_DIST, 'strophe.umd.min.js'))
const BROWSER = 'gzip, deflate, br, zstd'

async function app (t: Test): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(client)
  t.teardown(async () => await app.close())
  return app
}

/** The fingerprinted URL the page names. */
async function stropheUrl (a: FastifyInstance): Promise<string> {
  const page = await a.inject('/')
  const m = /<script defer src="(vendor\/strophe\.[0-9a-f]{12}\.min\.js)">/.exec(page.body)
  if (m?.[1] === undefined) throw new Error('the page names no fingerprinted Strophe')
  return `/${m[1]}`
}

function decode (coding: string | undefined, body: Buffer): Buffer {
  if (coding === 'br') return brotliDecompressSync(body)
  if (coding === 'gzip') return gunzipSync(body)
  if (coding === undefined) return body
  throw new Error(`unexpected coding ${coding}`)
}

t.test('the page loads the minified Strophe from a fingerprinted URL that browsers keep for a year (RFC 8246)', async (t) => {
  const a = await app(t)
  const url = await stropheUrl(a)
  const res = await a.inject({ url, headers: { 'accept-encoding': BROWSER } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], IMMUTABLE)
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(res.headers['content-encoding'], 'br', 'brotli for a browser that offers it')
  t.ok(decode('br', res.rawPayload).equals(STROPHE_MIN), 'the package\'s strophe.umd.min.js, byte for byte')
  t.equal(res.headers['content-length'], String(res.rawPayload.length))
  // The name is the content's hash: a new Strophe version gets a new URL.
  t.match(url, /^\/vendor\/strophe\.[0-9a-f]{12}\.min\.js$/)
  const plain = await a.inject(STROPHE_MIN_PATH)
  t.ok(plain.rawPayload.equals(STROPHE_MIN), 'also under its stable name')
  t.equal(plain.headers['cache-control'], 'no-cache', 'which revalidates')
  t.equal((await a.inject('/vendor/strophe.umd.min.js.map')).statusCode, 200, 'its source map, at the name its sourceMappingURL gives')
  t.equal((await a.inject('/vendor/strophe.0123456789ab.min.js')).statusCode, 404, 'no other fingerprint')
})

t.test('sizes before and after: 224 KB of ESM down to under 20 KB of brotli for the page', async (t) => {
  const a = await app(t)
  const url = await stropheUrl(a)
  const sizes: Record<string, number> = { raw: STROPHE_ESM.length, minified: STROPHE_MIN.length }
  for (const coding of ['gzip', 'br']) {
    const res = await a.inject({ url, headers: { 'accept-encoding': coding } })
    t.equal(res.headers['content-encoding'], coding)
    t.ok(decode(coding, res.rawPayload).equals(STROPHE_MIN), `${coding} decodes to the minified build`)
    sizes[coding] = res.rawPayload.length
  }
  t.comment(`strophe.js sizes in bytes: ${JSON.stringify(sizes)}`)
  t.ok(sizes.minified as number < (sizes.raw as number) / 3, 'minified is under a third of the ESM build')
  t.ok(sizes.gzip as number < (sizes.minified as number) / 3, 'gzip is under a third of the minified build')
  t.ok(sizes.br as number < (sizes.gzip as number), 'brotli is smaller than gzip')
})

t.test('the coding follows Accept-Encoding: brotli first, then gzip, identity without (RFC 9110 12.5.3)', async (t) => {
  const a = await app(t)
  const url = await stropheUrl(a)
  const cases: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', undefined],
    ['gzip, br', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['*, br;q=0', 'gzip'],
    ['br;q=0, gzip;q=0', undefined],
    ['GZIP;Q=0.5', 'gzip']
  ]
  for (const [accept, coding] of cases) {
    const res = await a.inject({ url, headers: accept === undefined ? {} : { 'accept-encoding': accept } })
    t.equal(res.statusCode, 200, String(accept))
    t.equal(res.headers['content-encoding'], coding, `Accept-Encoding: ${String(accept)}`)
    t.equal(res.headers.vary, 'Accept-Encoding', 'Vary on every answer, identity included')
    t.ok(decode(coding, res.rawPayload).equals(STROPHE_MIN), 'same content')
  }
})

t.test('each coding has its own strong ETag; If-None-Match gets 304 with Vary and the caching headers (RFC 9110 8.8.3, 15.4.5)', async (t) => {
  const a = await app(t)
  for (const url of [await stropheUrl(a), '/vendor/strophe.js', '/', '/client/chat.js', '/client/chat.css']) {
    const etags = new Set<string>()
    for (const accept of ['br', 'gzip', 'identity']) {
      const res = await a.inject({ url, headers: { 'accept-encoding': accept } })
      const etag = res.headers.etag
      if (typeof etag !== 'string') throw new Error(`${url}: no ETag`)
      t.match(etag, /^"[\w-]+"$/, `${url} ${accept}: strong`)
      etags.add(etag)
      const again = await a.inject({ url, headers: { 'accept-encoding': accept, 'if-none-match': etag } })
      t.equal(again.statusCode, 304, `${url} ${accept}: revalidated`)
      t.equal(again.rawPayload.length, 0)
      t.equal(again.headers.etag, etag)
      t.equal(again.headers.vary, 'Accept-Encoding')
      t.equal(again.headers['cache-control'], res.headers['cache-control'])
      t.equal(again.headers['content-encoding'], undefined, 'no representation metadata on a 304')
    }
    t.equal(etags.size, 3, `${url}: one ETag per coding`)
  }
  // A cached gzip copy is not a match for a client that now gets brotli.
  const url = await stropheUrl(a)
  const gz = (await a.inject({ url, headers: { 'accept-encoding': 'gzip' } })).headers.etag as string
  const br = await a.inject({ url, headers: { 'accept-encoding': 'br', 'if-none-match': gz } })
  t.equal(br.statusCode, 200)
  t.equal(br.headers['content-encoding'], 'br')
})

t.test('the old /vendor/strophe.js is still the ESM build, now compressed too', async (t) => {
  const a = await app(t)
  const res = await a.inject({ url: '/vendor/strophe.js', headers: { 'accept-encoding': BROWSER } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-encoding'], 'br')
  t.equal(res.headers['cache-control'], 'no-cache')
  t.ok(decode('br', res.rawPayload).equals(STROPHE_ESM), 'the ESM build, byte for byte once decoded')
  t.ok(res.rawPayload.length < STROPHE_ESM.length / 4)
})

t.test('HEAD of a compressed file gives the GET headers, Content-Encoding and Content-Length included, and no body', async (t) => {
  const a = await app(t)
  const url = await stropheUrl(a)
  const get = await a.inject({ url, headers: { 'accept-encoding': 'gzip' } })
  const head = await a.inject({ method: 'HEAD', url, headers: { 'accept-encoding': 'gzip' } })
  t.equal(head.statusCode, 200)
  t.equal(head.rawPayload.length, 0)
  for (const name of ['content-encoding', 'content-length', 'etag', 'vary', 'cache-control']) t.equal(head.headers[name], get.headers[name], name)
})

t.test('a page of one\'s own without the Strophe script tag is served as it is', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'megaphone-client-'))
  t.teardown(async () => await rm(root, { recursive: true, force: true }))
  const html = '<!doctype html><meta name="bosh-path" content="/x"><meta name="websocket-path" content="/y"><script type="module" src="client/chat.js"></script>\n'
  await writeFile(join(root, 'index.html'), html)
  await writeFile(join(root, 'chat.js'), "import { Strophe } from '../vendor/strophe.js'\n")
  await writeFile(join(root, 'chat.css'), '')
  const a = Fastify({ logger: false })
  t.teardown(async () => await a.close())
  await a.register(client, { root })
  t.equal((await a.inject('/')).body, html)
  t.equal((await a.inject('/vendor/strophe.js')).statusCode, 200, 'the ESM build it imports')
})
