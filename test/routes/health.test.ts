import t from 'tap'
import { buildApp } from '../../app.js'
import { Link } from '../../lib/link/link.js'
import { testConfig } from '../helpers/megaphone.js'

t.test('GET /health is 503 while the link is not ready, naming its status', async (t) => {
  // Port 1 on loopback refuses connections: the link stays down.
  const link = new Link({ host: '127.0.0.1', port: 1, secret: 'x'.repeat(16), reconnectMinDelayMs: 60_000 })
  link.start()
  const app = await buildApp({ link, config: testConfig() })
  t.teardown(async () => { await app.close(); await link.close() })
  const res = await app.inject('/health')
  t.equal(res.statusCode, 503)
  t.match(res.json(), { status: 'unavailable', sessions: 0, saturated: false })
  t.match(res.json().link, /^(connecting|waiting)$/)
})
