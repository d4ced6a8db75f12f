// The BOSH endpoint: a thin adapter from HTTP to lib/bosh. Any request
// Content-Type is read as UTF-8 text (XEP-0124 5: clients behind proxies send
// text/plain or forms); every answer is a complete <body/> with a
// Content-Length, never chunked.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BoshError } from '../lib/errors.js'
import { parseRequestBody } from '../lib/bosh/body.js'
import { terminateBody } from '../lib/bosh/response.js'
import { DEFAULT_CONTENT_TYPE, contentTypeOf, type Registry } from '../lib/bosh/registry.js'
import type { Respond, Session } from '../lib/bosh/session.js'

export interface HttpBindOptions {
  registry: Registry
  path: string
  maxBodyBytes: number
  /** Allowed origins, or ['*']. */
  corsOrigins: readonly string[]
  /** While the link to ejabberd is saturated, a promise for when it drains; else null. */
  whenWritable?: () => Promise<void> | null
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

export default async function httpBind (app: FastifyInstance, opts: HttpBindOptions): Promise<void> {
  const { registry, path, maxBodyBytes } = opts
  const anyOrigin = opts.corsOrigins.includes('*')
  const origins = new Set(opts.corsOrigins)

  // Scoped to this plugin: every Content-Type (or none) is the raw body.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => { done(null, body) })

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 500) request.log.error({ err, ip: request.ip }, 'http-bind request failed')
    else request.log.warn({ code: err.code, status, ip: request.ip }, 'http-bind request refused')
    // XEP-0124 17.1: a body too large for the server; the session, if any, lives on.
    const message = status === 413 ? `request body over ${maxBodyBytes} bytes\n` : status < 500 ? `${err.message}\n` : 'internal error\n'
    void reply.code(status).headers(corsHeaders(request)).type('text/plain; charset=utf-8').send(message)
  })

  function corsHeaders (request: FastifyRequest): Record<string, string> {
    const origin = request.headers.origin
    if (anyOrigin) return { 'access-control-allow-origin': '*' }
    if (origin !== undefined && origins.has(origin)) return { 'access-control-allow-origin': origin, vary: 'Origin' }
    return { vary: 'Origin' }
  }

  function send (request: FastifyRequest, reply: FastifyReply, body: string, contentType: string): void {
    void reply.code(200).headers(corsHeaders(request)).header('cache-control', 'no-store').type(contentType).send(body)
  }

  // XEP-0124 5: CORS preflight, so a page from another origin can use this endpoint.
  app.options(path, (request, reply) => {
    const origin = request.headers.origin
    if (!anyOrigin && (origin === undefined || !origins.has(origin))) {
      void reply.code(403).header('vary', 'Origin').send()
      return
    }
    void reply.code(204).headers(corsHeaders(request)).headers({
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'Content-Type',
      'access-control-max-age': '86400'
    }).send()
  })

  app.get(path, (_request, reply) => {
    void reply.code(405).header('allow', 'POST, OPTIONS').type('text/plain; charset=utf-8')
      .send('This is a BOSH endpoint (XEP-0124, XEP-0206): POST <body/> elements here.\n')
  })

  app.post(path, (request, reply) => {
    let body
    try {
      const raw = request.body as Buffer | undefined
      body = parseRequestBody(utf8.decode(raw ?? Buffer.alloc(0)))
    } catch (err) {
      const boshErr = err instanceof BoshError ? err : err instanceof TypeError ? new BoshError('bad-request', 'body is not UTF-8') : null
      if (boshErr === null) throw err
      request.log.warn({ condition: boshErr.condition, reason: boshErr.reason, detail: boshErr.message, ip: request.ip }, 'bosh request refused')
      send(request, reply, terminateBody(boshErr.condition), DEFAULT_CONTENT_TYPE)
      return
    }

    // XEP-0124 7.1: responses carry the session's `content` type once it is known.
    const sid = body.attrs.sid
    const contentType = sid === undefined ? contentTypeOf(body.attrs.content) ?? DEFAULT_CONTENT_TYPE : registry.get(sid)?.contentType ?? DEFAULT_CONTENT_TYPE
    let answered = false
    let session: Session | null = null
    const respond: Respond = (xml) => {
      if (answered) return
      answered = true
      send(request, reply, xml, contentType)
    }
    // The response's close, not the request's: on Node 20 the request's fires once its body is read.
    reply.raw.on('close', () => {
      if (answered) return
      answered = true
      session?.abandon(respond)
    })
    const dispatch = (): void => {
      if (answered) return
      try {
        session = registry.handle(body, respond, request.ip, request.socket.remotePort ?? 0)
      } catch (err) {
        if (!(err instanceof BoshError)) throw err
        request.log.warn({ condition: err.condition, reason: err.reason, ip: request.ip }, 'bosh session refused')
        respond(terminateBody(err.condition))
      }
    }
    // Backpressure: while ejabberd is not keeping up, new input waits here
    // instead of piling up in the link's write buffer.
    const writable = opts.whenWritable?.() ?? null
    if (writable === null) dispatch()
    else void writable.then(dispatch)
  })
}

