// The BOSH endpoint: a thin adapter from HTTP to lib/bosh. Any request
// Content-Type is read as UTF-8 text (XEP-0124 5: clients behind proxies send
// text/plain or forms); every answer is a complete <body/> with a
// Content-Length, never chunked.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BoshError, ErrorCode, HttpError } from '../lib/errors.js'
import { negotiate, requestCoding, REQUEST_CODINGS, type RequestCoding } from '../lib/http/content-coding.js'
import { decodeBody } from '../lib/http/request-decoding.js'
import { compressResponse } from '../lib/http/response-compression.js'
import { parseRequestBody } from '../lib/bosh/body.js'
import { legacyStatus, terminateBody } from '../lib/bosh/response.js'
import { DEFAULT_CONTENT_TYPE, contentTypeOf, type BoshEndpoint } from '../lib/bosh/registry.js'
import type { Respond } from '../lib/bosh/session.js'
import type { RequestBody } from '../lib/bosh/body.js'
import type { Draining } from '../lib/draining.js'

export interface HttpBindOptions {
  registry: BoshEndpoint
  path: string
  maxBodyBytes: number
  /** Allowed origins, or ['*']. */
  corsOrigins: readonly string[]
  /** While the link to ejabberd is saturated, a promise for when it drains; else null. */
  whenWritable?: () => Promise<void> | null
  /** While this process is draining, session creation gets HTTP 503 (a balancer retries it elsewhere). */
  draining?: Draining
  /** Compress responses of at least this many bytes for clients that accept gzip or deflate; null: never. */
  compressMinBytes?: number | null
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

export default async function httpBind (app: FastifyInstance, opts: HttpBindOptions): Promise<void> {
  const { registry, path, maxBodyBytes } = opts
  const compressMinBytes = opts.compressMinBytes ?? null
  // One shared object per coding: a held request keeps a reference, not a copy.
  const compressions = new Map<RequestCoding, Readonly<Compression>>(compressMinBytes === null
    ? []
    : REQUEST_CODINGS.map((coding) => [coding, Object.freeze({ coding, minBytes: compressMinBytes })]))
  const anyOrigin = opts.corsOrigins.includes('*')
  const origins = new Set(opts.corsOrigins)

  // XEP-0124 5: any Content-Type, so also an empty or malformed one, which
  // Fastify would refuse with 415 before any parser runs: treated as none.
  // Fastify's own parse decides (mediaType is undefined when it is invalid),
  // and keeps a valid one for the request's parsing step.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.headers['content-type'] !== undefined && request.mediaType === undefined) delete request.headers['content-type']
    done()
  })
  // XEP-0124 7.2: the creation response's `accept` lists gzip and deflate;
  // any other Content-Encoding is refused before its body is read (RFC 9110
  // 15.5.16: 415, with Accept-Encoding naming the codings that would do).
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'POST' && requestCoding(request.headers['content-encoding']) === 'unsupported') {
      void reply.header('accept-encoding', REQUEST_CODINGS.join(', ')).header('connection', 'close')
      done(new HttpError(ErrorCode.HTTP_UNSUPPORTED_ENCODING, 415, `Content-Encoding not supported; send ${REQUEST_CODINGS.join(' or ')}, or none`))
      return
    }
    done()
  })
  // Scoped to this plugin: every Content-Type (or none) is UTF-8 text, or
  // null when it is not UTF-8. Decoded here so that the Buffer (a slice that
  // pins an 8 KiB pool block) is not kept with a held request. The body
  // limit holds for the bytes received and, for a compressed body, for its
  // decompressed size (lib/http/request-decoding.ts).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (req, raw, done) => {
    const coding = requestCoding(req.headers['content-encoding'])
    if (coding === null || coding === 'unsupported') { done(null, utf8Text(raw as Buffer)); return }
    decodeBody(raw as Buffer, coding, maxBodyBytes).then((plain) => { done(null, utf8Text(plain)) }, (err: Error) => { done(err, undefined) })
  })

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 500) request.log.error({ err, ip: request.ip }, 'http-bind request failed')
    else request.log.warn({ code: err.code, status, ip: request.ip }, 'http-bind request refused')
    // XEP-0124 17.1: a body too large for the server; the session, if any, lives on.
    const message = err instanceof HttpError ? `${err.message}\n` : status === 413 ? `request body over ${maxBodyBytes} bytes\n` : status < 500 ? `${err.message}\n` : 'internal error\n'
    void reply.code(status).headers(corsHeaders(request)).type('text/plain; charset=utf-8').send(message)
  })

  // Response headers, one shared object per allowed origin (held requests keep a reference, not a copy).
  // RFC 9110 12.5.5: with compression on, every response varies by Accept-Encoding.
  const varyOrigin = compressMinBytes === null ? 'Origin' : 'Origin, Accept-Encoding'
  const noOrigin = Object.freeze({ vary: varyOrigin, 'cache-control': 'no-store' })
  const byOrigin = new Map<string, Readonly<Record<string, string>>>(anyOrigin
    ? []
    : opts.corsOrigins.map((o) => [o, Object.freeze({ 'access-control-allow-origin': o, vary: varyOrigin, 'cache-control': 'no-store' })]))
  const star = Object.freeze({ 'access-control-allow-origin': '*', 'cache-control': 'no-store', ...(compressMinBytes === null ? {} : { vary: 'Accept-Encoding' }) })
  function corsHeaders (request: FastifyRequest): Readonly<Record<string, string>> {
    if (anyOrigin) return star
    const origin = request.headers.origin
    return (origin === undefined ? undefined : byOrigin.get(origin)) ?? noOrigin
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
      'access-control-allow-headers': 'Content-Type, Content-Encoding',
      'access-control-max-age': '86400'
    }).send()
  })

  app.get(path, (_request, reply) => {
    void reply.code(405).header('allow', 'POST, OPTIONS').type('text/plain; charset=utf-8')
      .send('This is a BOSH endpoint (XEP-0124, XEP-0206): POST <body/> elements here.\n')
  })

  app.post(path, (request, reply) => {
    const text = request.body as string | null | undefined
    // A held request keeps its reply, and the reply its request: not its body.
    request.body = undefined
    let body: RequestBody
    try {
      if (text === null) throw new BoshError('NOT_UTF8')
      body = parseRequestBody(text ?? '')
    } catch (err) {
      if (!(err instanceof BoshError)) throw err
      request.log.warn({ condition: err.condition, reason: err.reason, code: err.code, detail: err.message, ip: request.ip }, 'bosh request refused')
      new PendingReply(reply, DEFAULT_CONTENT_TYPE, corsHeaders(request), null).respond(terminateBody(err.condition))
      return
    }

    // XEP-0124 7.1: responses carry the session's `content` type once it is known.
    const sid = body.attrs.sid
    if (sid === undefined && opts.draining?.on === true) {
      // XEP-0124 17.1 lets HTTP errors answer; 503 is the one HAProxy retries on another process.
      void reply.code(503).headers(corsHeaders(request)).header('retry-after', '1').type('text/plain; charset=utf-8').send('draining: no new sessions here\n')
      return
    }
    const contentType = (sid === undefined ? contentTypeOf(body.attrs.content) : registry.contentTypeOf(sid)) ?? DEFAULT_CONTENT_TYPE
    // XEP-0124 17.1: a client that sent no `ver` at creation gets HTTP error codes.
    const legacy = sid === undefined ? body.attrs.ver === undefined : registry.isLegacy(sid)
    // XEP-0124 5: a response is compressed only when the request's Accept-Encoding allows it; gzip first.
    const coding = compressMinBytes === null ? null : negotiate(request.headers['accept-encoding'], REQUEST_CODINGS) as RequestCoding | null
    const compression = coding === null ? null : compressions.get(coding) ?? null
    const pending = new (legacy ? LegacyPendingReply : PendingReply)(reply, contentType, corsHeaders(request), compression)
    const dispatch = (): void => {
      if (pending.answered) return
      try {
        pending.session = registry.handle(body, pending.respond, request.ip, request.socket.remotePort ?? 0)
      } catch (err) {
        if (!(err instanceof BoshError)) throw err
        request.log.warn({ condition: err.condition, reason: err.reason, code: err.code, ip: request.ip }, 'bosh session refused')
        pending.respond(terminateBody(err.condition))
      }
    }
    // Backpressure: while ejabberd is not keeping up, new input waits here
    // instead of piling up in the link's write buffer.
    const writable = opts.whenWritable?.() ?? null
    if (writable === null) dispatch()
    else void writable.then(dispatch)
  })
}

function utf8Text (bytes: Buffer): string | null {
  try { return utf8.decode(bytes) } catch { return null }
}

/** How a response is compressed: its coding, for bodies of at least `minBytes` bytes. */
interface Compression { coding: RequestCoding, minBytes: number }

/**
 * One POST until it is answered: all a held request keeps besides Node's and
 * Fastify's own objects. `respond` answers it once; the response's close (not
 * the request's: on Node 20 that fires once the body is read) tells the
 * session that the client dropped it.
 */
class PendingReply {
  session: { abandon (respond: Respond): void } | null = null
  #reply: FastifyReply | null
  readonly #contentType: string
  readonly #headers: Readonly<Record<string, string>>
  readonly #compression: Readonly<Compression> | null

  constructor (reply: FastifyReply, contentType: string, headers: Readonly<Record<string, string>>, compression: Readonly<Compression> | null) {
    this.#reply = reply
    this.#contentType = contentType
    this.#headers = headers
    this.#compression = compression
    reply.raw.once('close', this.#onClose)
  }

  get answered (): boolean { return this.#reply === null }

  readonly respond: Respond = (xml) => { this.#send(xml) }

  #send (xml: string): void {
    const reply = this.#reply
    if (reply === null) return
    this.#reply = null
    const status = this.statusOf(xml)
    if (status !== 200) {
      void reply.code(status).headers(this.#headers).send()
      return
    }
    const compression = this.#compression
    // Only from the threshold up: the held empty bodies (under 100 bytes) are
    // never worth it. A UTF-16 unit is at most 3 UTF-8 bytes, so most bodies
    // are found small without counting their bytes.
    if (compression !== null && xml.length * 3 >= compression.minBytes && Buffer.byteLength(xml, 'utf8') >= compression.minBytes) {
      void reply.code(200).headers(this.#headers).header('content-encoding', compression.coding).type(this.#contentType).send(compressResponse(xml, compression.coding))
    } else {
      void reply.code(200).headers(this.#headers).type(this.#contentType).send(xml)
    }
  }

  protected statusOf (_xml: string): number { return 200 }

  readonly #onClose = (): void => {
    if (this.#reply === null) return
    this.#reply = null
    this.session?.abandon(this.respond)
  }
}

/**
 * A request of a legacy client (XEP-0124 17.1: no `ver` in its creation
 * request): bad-request, policy-violation and item-not-found are answered
 * with 400, 403 and 404, which such a client takes as the end of its session.
 */
class LegacyPendingReply extends PendingReply {
  protected override statusOf (xml: string): number { return legacyStatus(xml) ?? 200 }
}
