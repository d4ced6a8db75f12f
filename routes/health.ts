// GET /health: 200 while the link to ejabberd is ready, 503 otherwise, so a
// load balancer stops sending clients to a Megaphone that cannot reach ejabberd.
import type { FastifyPluginAsync } from 'fastify'
import type { LinkState } from '../lib/link/link.js'
import type { SessionCounts } from '../lib/bosh/registry.js'
import type { WsCounts } from '../lib/websocket/endpoint.js'

export interface HealthOptions {
  link: LinkState
  sessions: SessionCounts
  websocket: WsCounts
}

const health: FastifyPluginAsync<HealthOptions> = async (app, { link, sessions, websocket }) => {
  app.get('/health', async (_request, reply) => {
    const ready = link.status === 'ready'
    return await reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'unavailable',
      link: link.status,
      sessions: sessions.size,
      websocketSessions: websocket.size,
      linkSessions: link.sessionCount,
      saturated: link.saturated
    })
  })
}

export default health
