// GET /metrics: Prometheus text exposition (format 0.0.4) of sessions, the
// link and the process, for an operator's dashboards and alerts.
import type { FastifyPluginAsync } from 'fastify'
import { LINK_STATUSES, type LinkState } from '../lib/link/link.js'
import type { LinkReport } from '../lib/link/pool.js'
import type { SessionCounts } from '../lib/bosh/registry.js'
import type { WsCounts } from '../lib/websocket/endpoint.js'
import type { Refusals } from '../lib/refusals.js'
import type { AddressLimits } from '../lib/address-limits.js'
import { openFiles, openFilesLimit } from '../lib/file-limit.js'

export interface MetricsOptions {
  link: LinkState & { readonly reports?: LinkReport[] }
  sessions: SessionCounts
  websocket: WsCounts
  refusals?: Refusals
  /** The connection cap in force, null for none. */
  maxConnections?: number | null
  addressLimits?: AddressLimits
}

const metrics: FastifyPluginAsync<MetricsOptions> = async (app, { link, sessions, websocket, refusals, maxConnections, addressLimits }) => {
  const fileLimit = openFilesLimit()
  app.get('/metrics', async (_request, reply) => {
    const stats = sessions.stats
    const memory = process.memoryUsage()
    const lines: string[] = []
    const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`)
    }
    metric('megaphone_bosh_sessions', 'gauge', 'BOSH sessions open.', [['', sessions.size]])
    metric('megaphone_bosh_sessions_created_total', 'counter', 'BOSH sessions created.', [['', stats.created]])
    metric('megaphone_bosh_sessions_refused_total', 'counter', 'Session creation requests refused.', [['', stats.refused]])
    metric('megaphone_bosh_sessions_closed_total', 'counter', 'BOSH sessions closed, by terminal condition (normal: none).',
      [...stats.closed].sort(([a], [b]) => a.localeCompare(b)).map(([condition, n]) => [`{condition="${condition}"}`, n]))
    metric('megaphone_bosh_requests_total', 'counter', 'Well-formed BOSH requests received.', [['', stats.requests]])
    metric('megaphone_websocket_sessions', 'gauge', 'XMPP-over-WebSocket sessions open.', [['', websocket.size]])
    metric('megaphone_websocket_sessions_created_total', 'counter', 'WebSocket sessions accepted.', [['', websocket.created]])
    metric('megaphone_websocket_sessions_closed_total', 'counter', 'WebSocket sessions ended, by why.',
      [...websocket.ended].sort(([a], [b]) => a.localeCompare(b)).map(([end, n]) => [`{reason="${end}"}`, n]))
    metric('megaphone_link_status', 'gauge', 'The link to ejabberd: 1 for its current status.',
      LINK_STATUSES.map((status) => [`{status="${status}"}`, link.status === status ? 1 : 0]))
    metric('megaphone_link_sessions', 'gauge', 'Connection IDs open on the link.', [['', link.sessionCount]])
    const reports = link.reports ?? []
    if (reports.length > 1) {
      // Target addresses come from the configuration, never from a client.
      metric('megaphone_link_target_up', 'gauge', 'Each link target (ejabberd node): 1 while its link is ready.',
        reports.map((r) => [`{target="${r.target}"}`, r.status === 'ready' ? 1 : 0]))
      metric('megaphone_link_target_sessions', 'gauge', 'Connection IDs open on each link target.',
        reports.map((r) => [`{target="${r.target}"}`, r.sessions]))
    }
    metric('megaphone_link_saturated', 'gauge', '1 while the link\'s write buffer is over its high-water mark.', [['', link.saturated ? 1 : 0]])
    if (refusals !== undefined) {
      metric('megaphone_refused_total', 'counter', 'Connections and sessions refused or cut off to bound slow, greedy and hostile clients, by kind.',
        refusals.totals.map(([kind, n]) => [`{kind="${kind}"}`, n]))
    }
    const connections = await new Promise<number>((resolve) => app.server.getConnections((err, count) => resolve(err === null ? count : -1)))
    metric('megaphone_http_connections', 'gauge', 'HTTP connections open (WebSockets included).', [['', connections]])
    if (maxConnections != null) metric('megaphone_http_max_connections', 'gauge', 'The connection cap (limits.maxConnections).', [['', maxConnections]])
    if (addressLimits?.enabled === true) {
      const sizes = addressLimits.sizes
      metric('megaphone_limits_addresses', 'gauge', 'Client addresses tracked by the per-address session limits.',
        [['{table="open"}', sizes.open], ['{table="rate"}', sizes.buckets]])
      metric('megaphone_limits_addresses_forgotten_total', 'counter', 'Addresses whose creation rate was forgotten early (limits.maxAddresses reached).', [['', addressLimits.forgotten]])
    }
    const fds = openFiles()
    if (fds !== null) metric('megaphone_process_open_fds', 'gauge', 'Open file descriptors.', [['', fds]])
    if (fileLimit !== null) metric('megaphone_process_max_fds', 'gauge', 'The open-file limit (soft RLIMIT_NOFILE).', [['', fileLimit]])
    metric('megaphone_process_resident_memory_bytes', 'gauge', 'Resident set size.', [['', memory.rss]])
    metric('megaphone_process_heap_used_bytes', 'gauge', 'V8 heap in use.', [['', memory.heapUsed]])
    return await reply.type('text/plain; version=0.0.4; charset=utf-8').header('cache-control', 'no-store').send(lines.join('\n') + '\n')
  })
}

export default metrics
