// GET /health: 200 while a link to ejabberd is ready, 503 otherwise, so a
// load balancer stops sending clients to a Megaphone that cannot reach
// ejabberd. With links to several nodes, each one's state is listed.
import type { FastifyPluginAsync } from 'fastify'
import type { LinkState } from '../lib/link/link.js'
import type { LinkReport } from '../lib/link/pool.js'
import type { Draining } from '../lib/draining.js'
import type { SessionCounts } from '../lib/bosh/registry.js'
import type { WsCounts } from '../lib/websocket/endpoint.js'

export interface HealthOptions {
  /** With `reports` when there are links to several ejabberd nodes (lib/link/pool.ts). */
  link: LinkState & { readonly reports?: LinkReport[] }
  sessions: SessionCounts
  websocket: WsCounts
  /** While on, 503 with status `draining`: the balancer sends no new client here. */
  draining?: Draining
}

const health: FastifyPluginAsync<HealthOptions> = async (app, { link, sessions, websocket, draining }) => {
  app.get('/health', async (_request, reply) => {
    const ready = link.status === 'ready'
    const leaving = draining?.on === true
    return await reply.code(ready && !leaving ? 200 : 503).send({
      status: leaving ? 'draining' : ready ? 'ok' : 'unavailable',
      link: link.status,
      sessions: sessions.size,
      websocketSessions: websocket.size,
      linkSessions: link.sessionCount,
      saturated: link.saturated,
      ...(link.reports === undefined || link.reports.length < 2 ? {} : { links: link.reports })
    })
  })
}

export default health
