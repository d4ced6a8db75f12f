import t from 'tap'
import { buildApp } from '../../app.js'
import { Link } from '../../lib/link/link.js'
import { testConfig } from '../helpers/megaphone.js'
import { body } from '../helpers/bosh-http.js'

t.test('GET /metrics exposes sessions, refusals by condition, the link and memory in Prometheus text format', async (t) => {
  // Port 1 on loopback refuses connections: the link stays down.
  const link = new Link({ host: '127.0.0.1', port: 1, secret: 'x'.repeat(16), reconnectMinDelayMs: 60_000 })
  link.start()
  const app = await buildApp({ link, config: testConfig() })
  t.teardown(async () => { await app.close(); await link.close() })
  await app.inject({ method: 'POST', url: '/http-bind', payload: body({ rid: 1, to: 'elsewhere.example', wait: 10, hold: 1 }) })
  await app.inject({ method: 'POST', url: '/http-bind', payload: body({ rid: 1, to: 'localhost', wait: 10, hold: 1 }) })
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.body
  t.match(text, /^# HELP megaphone_bosh_sessions /m)
  t.match(text, /^megaphone_bosh_sessions 0$/m)
  t.match(text, /^megaphone_bosh_requests_total 2$/m)
  t.match(text, /^megaphone_bosh_sessions_refused_total 1$/m, 'host-unknown is a refused creation')
  t.match(text, /^megaphone_bosh_sessions_created_total 1$/m, 'the other was created…')
  t.match(text, /^megaphone_bosh_sessions_closed_total\{condition="remote-connection-failed"\} 1$/m, '…and closed at once: the link is down')
  t.match(text, /^megaphone_link_status\{status="ready"\} 0$/m)
  t.match(text, /^megaphone_process_resident_memory_bytes \d+$/m)
  t.match(text, /^megaphone_refused_total\{kind="session-rate"\} 0$/m, 'every kind of refusal, 0 when none')
  t.match(text, /^megaphone_refused_total\{kind="max-connections"\} 0$/m)
  t.match(text, /^megaphone_http_connections \d+$/m)
  t.match(text, /^megaphone_limits_addresses\{table="open"\} 0$/m, 'the per-address table, on by default')
  if (process.platform === 'linux') t.match(text, /^megaphone_process_open_fds \d+$/m)
  for (const line of text.trim().split('\n')) {
    t.ok(/^# (HELP|TYPE) megaphone_\w+ .+$/.test(line) || /^megaphone_\w+(\{\w+="[\w-]+"\})? \d+$/.test(line), `well-formed: ${line}`)
  }
})
