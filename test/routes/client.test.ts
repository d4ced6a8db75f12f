// The static routes of the chat page, through inject(): no ejabberd, no browser.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import client, { PAGE_CSP, type ClientOptions } from '../../routes/client.js'

const STROPHE_ESM = join(dirname(createRequire(import.meta.url).resolve('strophe.js/package.json')), 'dist/strophe.esm.js')

async function app (t: Test, opts: ClientOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(client, opts)
  t.teardown(async () => await app.close())
  return app
}

t.test('GET / serves the page with a CSP of self, nosniff, a length and a validator', async (t) => {
  const res = await (await app(t)).inject('/')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['content-length'], String(res.rawPayload.length))
  t.equal(res.headers['content-security-policy'], PAGE_CSP)
  t.match(PAGE_CSP, /(^|; )default-src 'self'(;|$)/)
  t.match(PAGE_CSP, /(^|; )connect-src 'self'(;|$)/)
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['cache-control'], 'no-cache')
  t.match(res.headers.etag, /^"[\w-]+"$/)
  t.match(res.body, /<script defer src="vendor\/strophe\.[0-9a-f]{12}\.min\.js"><\/script>\n<script type="module" src="client\/chat\.js"><\/script>/, 'Strophe first, fingerprinted, then the page\'s module')
  t.match(res.body, '<meta name="bosh-path" content="/http-bind">')
})

t.test('the page names the configured BOSH path, escaped', async (t) => {
  const res = await (await app(t, { boshPath: '/bosh"x' })).inject('/')
  t.match(res.body, '<meta name="bosh-path" content="/bosh&quot;x">')
  t.notMatch(res.body, '/http-bind')
})

t.test('the client script and style are served with their types, without a CSP', async (t) => {
  const a = await app(t)
  const js = await a.inject('/client/chat.js')
  t.equal(js.statusCode, 200)
  t.equal(js.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(js.headers['x-content-type-options'], 'nosniff')
  t.equal(js.headers['content-security-policy'], undefined)
  t.match(js.body, 'const { Strophe, $iq, $msg, $pres } = globalThis')
  const css = await a.inject('/client/chat.css')
  t.equal(css.statusCode, 200)
  t.equal(css.headers['content-type'], 'text/css; charset=utf-8')
})

t.test('GET /vendor/strophe.js is the installed package\'s ESM build, byte for byte', async (t) => {
  const res = await (await app(t)).inject('/vendor/strophe.js')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.ok(res.rawPayload.equals(readFileSync(STROPHE_ESM)), 'same bytes as node_modules/strophe.js/dist/strophe.esm.js')
  t.equal(res.headers['content-length'], String(res.rawPayload.length))
})

t.test('HEAD gives the GET headers, Content-Length included, and no body', async (t) => {
  const a = await app(t)
  for (const url of ['/', '/vendor/strophe.js']) {
    const get = await a.inject(url)
    const head = await a.inject({ method: 'HEAD', url })
    t.equal(head.statusCode, 200, url)
    t.equal(head.rawPayload.length, 0, `${url}: no body`)
    for (const name of ['content-type', 'content-length', 'etag', 'cache-control']) {
      t.equal(head.headers[name], get.headers[name], `${url}: ${name}`)
    }
  }
})

t.test('a conditional GET with the current ETag gets 304 and no body (RFC 9110 13.1.2, 15.4.5)', async (t) => {
  const a = await app(t)
  const { etag } = (await a.inject('/client/chat.js')).headers
  if (typeof etag !== 'string') throw new Error('no ETag')
  for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await a.inject({ url: '/client/chat.js', headers: { 'if-none-match': ifNoneMatch } })
    t.equal(res.statusCode, 304, ifNoneMatch)
    t.equal(res.rawPayload.length, 0)
    t.equal(res.headers.etag, etag)
    t.equal(res.headers['cache-control'], 'no-cache')
    t.equal(res.headers['content-type'], undefined, 'no representation metadata')
  }
  const stale = await a.inject({ url: '/client/chat.js', headers: { 'if-none-match': '"stale"' } })
  t.equal(stale.statusCode, 200, 'another ETag gets the file')
})

t.test('unknown paths get Fastify\'s 404', async (t) => {
  const a = await app(t)
  for (const url of ['/index.html', '/client/', '/client/nope.js', '/vendor/strophe.umd.min.js', '/client/../package.json', '/public/chat.js']) {
    const res = await a.inject(url)
    t.equal(res.statusCode, 404, url)
    t.match(res.json(), { error: 'Not Found' })
  }
})

t.test('a root without the page fails registration, naming the file', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'megaphone-client-'))
  t.teardown(async () => await rm(root, { recursive: true, force: true }))
  await writeFile(join(root, 'chat.js'), '')
  const a = Fastify({ logger: false })
  t.teardown(async () => await a.close())
  await t.rejects(async () => { await a.register(client, { root }) }, { code: 'ENOENT', path: join(root, 'index.html') })
})
