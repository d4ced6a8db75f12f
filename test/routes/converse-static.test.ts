// Converse.js's files as a browser gets them: the four every visit loads
// precompressed (brotli, gzip) by Accept-Encoding, with Vary, an ETag per
// coding and 304; the rest of dist/ from @fastify/static as before. Through
// inject(): no ejabberd, no browser. The sizes it prints are the README's.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import converse, { CONVERSE_PATH, converseDist } from '../../routes/converse.js'

const dist = converseDist()

async function app (t: Test): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(converse, { boshPath: '/http-bind', websocketPath: '/xmpp-websocket', defaultDomain: 'localhost' })
  t.teardown(async () => await app.close())
  return app
}

t.test('the files every visit loads go out as brotli or gzip, decoding to the package\'s bytes', { skip: dist === null ? 'converse.js not installed' : false }, async (t) => {
  const a = await app(t)
  const sizes: Record<string, Record<string, number>> = {}
  for (const file of ['converse.min.js', 'converse.min.css', 'emoji.json', 'libomemo.esm.min.js']) {
    const raw = readFileSync(join(dist as string, file))
    const url = `${CONVERSE_PATH}dist/${file}`
    sizes[file] = { raw: raw.length }
    for (const coding of ['br', 'gzip']) {
      const res = await a.inject({ url, headers: { 'accept-encoding': coding } })
      t.equal(res.statusCode, 200, `${file} ${coding}`)
      t.equal(res.headers['content-encoding'], coding)
      t.equal(res.headers.vary, 'Accept-Encoding')
      t.equal(res.headers['cache-control'], 'public, max-age=3600')
      t.equal(res.headers['x-content-type-options'], 'nosniff')
      t.ok((coding === 'br' ? brotliDecompressSync(res.rawPayload) : gunzipSync(res.rawPayload)).equals(raw), `${file}: ${coding} decodes to the file`)
      const again = await a.inject({ url, headers: { 'accept-encoding': coding, 'if-none-match': res.headers.etag as string } })
      t.equal(again.statusCode, 304, `${file} ${coding}: revalidated`)
      ;(sizes[file] as Record<string, number>)[coding] = res.rawPayload.length
    }
    const plain = await a.inject(url)
    t.equal(plain.headers['content-encoding'], undefined, 'identity without Accept-Encoding')
    t.ok(plain.rawPayload.equals(raw))
  }
  t.comment(`converse.js sizes in bytes: ${JSON.stringify(sizes)}`)
  t.ok((sizes['converse.min.js']?.br ?? Infinity) < (sizes['converse.min.js']?.raw ?? 0) / 3, 'converse.min.js: brotli is under a third')
})

t.test('the rest of dist/ is still served, as the files are', { skip: dist === null ? 'converse.js not installed' : false }, async (t) => {
  const a = await app(t)
  const res = await a.inject({ url: `${CONVERSE_PATH}dist/manifest.json`, headers: { 'accept-encoding': 'br' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-encoding'], undefined)
  t.ok(res.rawPayload.equals(readFileSync(join(dist as string, 'manifest.json'))))
})
