// The top of the house: wires the core (lib/) to its HTTP routes (routes/).
// buildApp() is the Fastify application, which never listens (tests use
// inject()); startMegaphone() is the one way a process runs Megaphone — the
// server entry (server.ts), the tests and the benchmarks all start it here.
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './lib/config.js'
import { systemClock, type Clock } from './lib/clock.js'
import { Registry } from './lib/bosh/registry.js'
import { drainGate } from './lib/link/backpressure.js'
import { startProcessIdleCollector } from './lib/idle-collector.js'
import { LinkPool, type LinkReport } from './lib/link/pool.js'
import { linkTlsOptions } from './lib/link/tls.js'
import type { LinkState } from './lib/link/link.js'
import type { Saturable } from './lib/link/backpressure.js'
import type { Upstream } from './lib/bosh/session.js'
import health from './routes/health.js'
import metrics from './routes/metrics.js'
import httpBind from './routes/http-bind.js'
import client from './routes/client.js'
import xmppWebsocket from './routes/xmpp-websocket.js'
import converse from './routes/converse.js'
import { WsEndpoint } from './lib/websocket/endpoint.js'
import { Draining } from './lib/draining.js'
import { AddressLimits } from './lib/address-limits.js'
import { Refusals } from './lib/refusals.js'
import { clientErrorHandler } from './lib/client-errors.js'
import { addressOf, guardServer } from './lib/server-guards.js'
import { BUSY_RETRY_AFTER_SECONDS, isBusy } from './lib/accept-guard.js'

/** What the HTTP side needs of the link: one Link, or a LinkPool of several. */
export type AppLink = Upstream & Saturable & LinkState & { readonly reports?: LinkReport[] }

export interface AppOptions {
  link: AppLink
  config: Pick<Config, 'http' | 'bosh' | 'websocket' | 'client' | 'instance' | 'limits'>
  /** The process's one pino logger; none in tests unless given. */
  loggerInstance?: FastifyBaseLogger
  /** For tests that drive BOSH timing. */
  clock?: Clock
}

export interface App extends FastifyInstance {
  bosh: Registry
  websocket: WsEndpoint
  draining: Draining
  /** Connections and sessions refused or cut off, by kind (README "Hostile clients"). */
  refusals: Refusals
  /** The connection cap in force; null when there is none (open-file limit unknown). */
  maxConnections: number | null
}

export async function buildApp ({ link, config, loggerInstance, clock }: AppOptions): Promise<App> {
  const { tlsCertFile, tlsKeyFile } = config.http
  // Built before Fastify, whose clientErrorHandler reports to it; it logs through Fastify's logger once that exists.
  let refusals: Refusals | null = null
  const app = Fastify({
    ...(loggerInstance === undefined ? { logger: false } : { loggerInstance }),
    // HTTPS when configured: browsers on https:// pages may only use an https:// BOSH endpoint.
    ...(tlsCertFile === null || tlsKeyFile === null ? {} : { https: { cert: readFileSync(tlsCertFile), key: readFileSync(tlsKeyFile) } }),
    trustProxy: config.http.trustProxy,
    // Clients and the documentation of ejabberd, Prosody and Openfire write
    // the endpoint as /http-bind/ as often as /http-bind; both are served, for every route.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    // Long-polling means one request per client every `wait` seconds: a log
    // line for each would drown everything else. Refusals and errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // A BOSH client's second connection is idle while its first is held (up to
    // `wait`): the default keeps it past the longest wait (lib/config.ts).
    keepAliveTimeout: config.http.keepAliveSeconds * 1000,
    // Node's requestTimeout ends when the request is received, not answered:
    // a held request (a long-poll) is never cut by it; a trickled body is.
    requestTimeout: config.http.requestBodySeconds * 1000,
    forceCloseConnections: 'idle',
    clientErrorHandler: clientErrorHandler({
      requestHeadersSeconds: config.http.requestHeadersSeconds,
      requestBodySeconds: config.http.requestBodySeconds,
      onRefusal: (kind, socket) => { refusals?.count(kind, addressOf(socket)) }
    })
  })
  refusals = new Refusals(app.log.child({ component: 'limits' }), clock)
  const addressLimits = new AddressLimits({ ...config.limits, clock })
  const onAddressRefusal = (refusal: 'sessions-per-address' | 'session-rate', ip: string): void => { refusals?.count(refusal, { ip }) }
  // Fastify builds a pino child per request for request.log; with a held
  // request per client that is one logger object per session. Routes log
  // with their own fields (sid, condition) instead of a request id.
  app.setChildLoggerFactory((logger) => logger)
  const registry = new Registry({ upstream: link, log: app.log.child({ component: 'bosh' }), clock, instance: config.instance, ...config.bosh, addressLimits, onAddressRefusal })
  app.decorate('bosh', registry)
  const ws = config.websocket
  const websocket = new WsEndpoint({
    upstream: link,
    log: app.log.child({ component: 'websocket' }),
    clock,
    domains: config.bosh.domains,
    maxMessageBytes: ws.maxMessageBytes,
    maxBufferedBytes: ws.maxBufferedBytes,
    pingIntervalSeconds: ws.pingIntervalSeconds,
    seeOtherUri: ws.seeOtherUri,
    whenWritable: drainGate(link, clock),
    addressLimits,
    onAddressRefusal
  })
  app.decorate('websocket', websocket)
  const draining = new Draining()
  app.decorate('draining', draining)
  const guards = guardServer(app.server, { ...config, refusals, log: app.log.child({ component: 'http' }), clock })
  const { unusedSockets, maxConnections } = guards
  app.decorate('refusals', refusals)
  app.decorate('maxConnections', maxConnections)
  // A connection accepted past the cap (lib/accept-guard.ts): its request is
  // answered at once, 503 with Retry-After, and the connection closed, so a
  // browser is told rather than cut off; the sessions open go on.
  app.addHook('onRequest', (request, reply, done) => {
    if (!isBusy(request.raw.socket)) { done(); return }
    void reply.code(503).header('retry-after', String(BUSY_RETRY_AFTER_SECONDS)).header('connection', 'close')
      .type('text/plain; charset=utf-8').send('server busy: connection limit reached, try again later\n')
  })
  // Answer every held request (system-shutdown) before the server waits for
  // them to finish, and drop the connections that never sent one.
  app.addHook('preClose', async () => {
    registry.shutdown()
    guards.stop()
    const dropped = unusedSockets.destroy()
    if (dropped > 0) app.log.info({ sockets: dropped }, 'shutdown: closed connections that had sent no request')
  })

  await app.register(health, { link, sessions: registry, websocket, draining })
  await app.register(metrics, { link, sessions: registry, websocket, refusals, maxConnections, addressLimits })
  await app.register(httpBind, {
    registry,
    path: config.bosh.path,
    maxBodyBytes: config.bosh.maxBodyBytes,
    corsOrigins: config.bosh.corsOrigins,
    whenWritable: drainGate(link, clock),
    draining,
    compressMinBytes: config.bosh.compressResponses ? config.bosh.compressMinBytes : null
  })
  if (ws.enabled) {
    await app.register(xmppWebsocket, {
      endpoint: websocket,
      draining,
      path: ws.path,
      corsOrigins: config.bosh.corsOrigins,
      trustProxy: config.http.trustProxy,
      maxMessageBytes: ws.maxMessageBytes,
      perMessageDeflate: ws.perMessageDeflate
    })
  }
  if (config.client.enabled) await app.register(client, { boshPath: config.bosh.path, websocketPath: ws.enabled ? ws.path : null })
  if (config.client.converse) {
    await app.register(converse, { boshPath: config.bosh.path, websocketPath: ws.enabled ? ws.path : null, defaultDomain: config.bosh.domains[0] ?? 'localhost' })
  }
  return app as unknown as App
}

export interface StartOptions {
  config: Readonly<Config>
  /** The process's one pino logger; Megaphone is silent without one. */
  logger?: Logger
  clock?: Clock
  /**
   * Wait this long for the link to be ready before listening (tests and
   * benchmarks want sessions to work at once). Without it, the server listens
   * at once and /health answers 503 until the link is up.
   */
  linkReadyTimeoutMs?: number
}

export interface Megaphone {
  app: App
  link: LinkPool
  /** http(s)://host:port of the listening server. */
  baseUrl: string
  /**
   * Stops taking new sessions (lib/draining.ts) and resolves after `delayMs`,
   * the time a balancer takes to see /health fail; sessions go on meanwhile.
   */
  drain (delayMs: number): Promise<void>
  /** HTTP first (held requests answered system-shutdown, each session closes its stream), then the link. */
  close (): Promise<void>
}

/** Brings the link up and serves HTTP on config.http; on a failure to listen, closes the link and throws. */
export async function startMegaphone ({ config, logger, clock, linkReadyTimeoutMs }: StartOptions): Promise<Megaphone> {
  const { targets, prefer, host: _host, port: _port, tls, ...linkOptions } = config.link
  const preferred = prefer === null ? -1 : targets.findIndex((t) => t.host === prefer.host && t.port === prefer.port)
  const link = new LinkPool(targets, {
    ...linkOptions,
    ...(tls === null ? {} : { tls: linkTlsOptions(tls) }),
    prefer: preferred,
    clock,
    logger: logger?.child({ component: 'link' })
  })
  const app = await buildApp({ link, config, loggerInstance: logger, clock })
  link.start()
  try {
    if (linkReadyTimeoutMs !== undefined) await link.waitReady(linkReadyTimeoutMs)
    await app.listen({ host: config.http.host, port: config.http.port })
  } catch (err) {
    await app.close()
    await link.close()
    throw err
  }
  const collector = config.memory.idleCollect ? startProcessIdleCollector(logger?.child({ component: 'memory' })) : null
  const { address, port } = app.server.address() as AddressInfo
  const host = address.includes(':') ? `[${address}]` : address
  const scheme = config.http.tlsCertFile === null ? 'http' : 'https'
  let closing: Promise<void> | null = null
  return {
    app,
    link,
    baseUrl: `${scheme}://${host}:${port}`,
    drain: async (delayMs) => {
      app.draining.start()
      logger?.info({ delayMs }, 'draining: no new sessions; closing the open ones after the delay')
      await new Promise<void>((resolve) => { (clock ?? systemClock).setTimeout(resolve, delayMs) })
    },
    close: async () => {
      closing ??= (async () => {
        collector?.stop()
        await app.close()
        await link.close()
      })()
      await closing
    }
  }
}
