// The servers Megaphone's cheapest request is compared with in
// http-floor.ts: node:http alone, and Fastify alone, each reading the POST's
// body and answering the terminate body Megaphone answers for an unknown sid,
// with the same headers. Run as a child: `floor-server KIND`; it listens on a
// free loopback port and sends { port } to its parent.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { terminateBody } from '../../lib/bosh/response.js'

/** What Megaphone answers for an unknown sid (XEP-0124 17.2). */
const BODY = terminateBody('item-not-found')
const HEADERS = { 'access-control-allow-origin': '*', 'cache-control': 'no-store', 'content-type': 'text/xml; charset=utf-8' }

async function listen (kind: string): Promise<number> {
  if (kind === 'node:http') {
    const server = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => { res.writeHead(200, { ...HEADERS, 'content-length': Buffer.byteLength(BODY) }); res.end(BODY) })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as AddressInfo).port
  }
  if (kind === 'fastify') {
    const app = Fastify({ logger: false })
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => { done(null, body) })
    app.post('/http-bind', (_req, reply) => { void reply.headers(HEADERS).send(BODY) })
    await app.listen({ host: '127.0.0.1', port: 0 })
    return (app.server.address() as AddressInfo).port
  }
  throw new Error(`floor-server: unknown kind ${kind}`)
}

const port = await listen(process.argv[2] ?? '')
process.send?.({ port })
process.on('disconnect', () => process.exit(0))
