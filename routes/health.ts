// GET /health: 200 while the link to ejabberd is ready, 503 otherwise, so a
// load balancer stops sending clients to a Megaphone that cannot reach ejabberd.
import type { FastifyPluginAsync } from 'fastify'
import type { Link } from '../lib/link/link.js'
import type { Registry } from '../lib/bosh/registry.js'

export interface HealthOptions {
  link: Link
  registry: Registry
}

const health: FastifyPluginAsync<HealthOptions> = async (app, { link, registry }) => {
  app.get('/health', async (_request, reply) => {
    const ready = link.status === 'ready'
    return await reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'unavailable',
      link: link.status,
      sessions: registry.size,
      linkSessions: link.sessionCount,
      saturated: link.saturated
    })
  })
}

export default health
