// The Fastify application as a plugin that never listens: lib/server.ts
// listens, tests use inject() or port 0.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Link } from './link/link.js'
import health from '../routes/health.js'

export interface AppOptions {
  link: Link
  /** The process's one pino logger; none in tests unless given. */
  loggerInstance?: FastifyBaseLogger
}

export async function buildApp ({ link, loggerInstance }: AppOptions): Promise<FastifyInstance> {
  const app = loggerInstance === undefined ? Fastify({ logger: false }) : Fastify({ loggerInstance })
  await app.register(health, { link })
  return app
}
