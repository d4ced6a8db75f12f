// The Fastify application as a plugin that never listens: lib/server.ts
// listens, tests use inject() or port 0.
import { readFileSync } from 'node:fs'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import type { Link } from './link/link.js'
import { Registry } from './bosh/registry.js'
import type { Clock } from './clock.js'
import health from '../routes/health.js'
import metrics from '../routes/metrics.js'
import httpBind from '../routes/http-bind.js'
import client from '../routes/client.js'

export interface AppOptions {
  link: Link
  config: Pick<Config, 'http' | 'bosh' | 'client'>
  /** The process's one pino logger; none in tests unless given. */
  loggerInstance?: FastifyBaseLogger
  /** For tests that drive BOSH timing. */
  clock?: Clock
}

export interface App extends FastifyInstance {
  bosh: Registry
}

export async function buildApp ({ link, config, loggerInstance, clock }: AppOptions): Promise<App> {
  const { tlsCertFile, tlsKeyFile } = config.http
  const app = Fastify({
    ...(loggerInstance === undefined ? { logger: false } : { loggerInstance }),
    // HTTPS when configured: browsers on https:// pages may only use an https:// BOSH endpoint.
    ...(tlsCertFile === null || tlsKeyFile === null ? {} : { https: { cert: readFileSync(tlsCertFile), key: readFileSync(tlsKeyFile) } }),
    trustProxy: config.http.trustProxy,
    // Long-polling means one request per client every `wait` seconds: a log
    // line for each would drown everything else. Refusals and errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // Held requests last up to `wait`; keep idle keep-alive sockets a little longer than that.
    keepAliveTimeout: (config.bosh.maxWaitSeconds + 15) * 1000,
    requestTimeout: (config.bosh.maxWaitSeconds + 30) * 1000,
    forceCloseConnections: 'idle'
  })
  // Fastify builds a pino child per request for request.log; with a held
  // request per client that is one logger object per session. Routes log
  // with their own fields (sid, condition) instead of a request id.
  app.setChildLoggerFactory((logger) => logger)
  const registry = new Registry({ upstream: link, log: app.log.child({ component: 'bosh' }), clock, ...config.bosh })
  app.decorate('bosh', registry)
  // Answer every held request (system-shutdown) before the server waits for them to finish.
  app.addHook('preClose', async () => { registry.shutdown() })

  await app.register(health, { link, registry })
  await app.register(metrics, { link, registry })
  await app.register(httpBind, {
    registry,
    path: config.bosh.path,
    maxBodyBytes: config.bosh.maxBodyBytes,
    corsOrigins: config.bosh.corsOrigins,
    whenWritable: drainGate(link)
  })
  if (config.client.enabled) await app.register(client, { boshPath: config.bosh.path })
  return app as unknown as App
}

/** Longest a request waits for a saturated link to drain before it is let through anyway. */
const DRAIN_WAIT_MS = 5_000

/** One shared promise per saturation episode, so waiting requests add no listener each. */
function drainGate (link: Link): () => Promise<void> | null {
  let drained: Promise<void> | null = null
  return () => {
    if (!link.saturated) return null
    drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        link.off('drain', done)
        drained = null
        resolve()
      }
      const timer = setTimeout(done, DRAIN_WAIT_MS)
      link.once('drain', done)
    })
    return drained
  }
}
