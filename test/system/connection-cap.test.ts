// The connection cap (lib/accept-guard.ts, README "Hostile clients"), small
// enough to reach here: a flood of silent connections fills it while two
// users chat over WebSocket, on connections they opened before. A new
// connection past the cap gets a clear answer, HTTP 503 with Retry-After, for
// a request and for a WebSocket upgrade alike; the open sessions go on; once
// the flood goes, new connections are served. (A BOSH client that needs a new
// connection at the cap gets the 503 too: test/system/file-limit.test.ts
// shows a chat whose connections were all open before.)
import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { Agent, request } from 'undici'
import WebSocket from 'ws'
import { waitFor } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { CLOSE, loginInOrder, type WsClient } from '../helpers/ws-xmpp.js'
import { registerUsers } from '../helpers/ejabberd.js'
import { refusedTotal } from '../helpers/metrics.js'

const CAP = 60

const mp = await startMegaphone(t, {
  env: {
    MEGAPHONE_LIMITS_MAX_CONNECTIONS: String(CAP),
    // The flood's silent connections stay for the whole test.
    MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS: '300',
    MEGAPHONE_HTTP_REQUEST_BODY_SECONDS: '300'
  }
})
const users = await registerUsers('capchat', 2, 'cap-pw')
const { clients, jids } = await loginInOrder(mp.websocketUrl, users, 'cap-pw')
const [alice, bob] = clients as [WsClient, WsClient]
t.teardown(() => { for (const c of clients) c.send(CLOSE) })
let said = 0
/** Alice says the next line to Bob, who must get it. */
async function chatGoesOn (t: Test, when: string): Promise<void> {
  said++
  alice.send(`<message to='${jids[1] as string}' type='chat'><body>line ${said}</body></message>`)
  await bob.until(new RegExp(`<body>line ${said}</body>`))
  t.pass(`the chat goes on: ${when}`)
}
const port = Number(new URL(mp.baseUrl).port)

const flood: Socket[] = []
t.teardown(() => { for (const s of flood) s.destroy() })

t.test('past the cap, a request and an upgrade get 503 with Retry-After; the chat goes on', async (t) => {
  // Fill the cap with silent connections from another address, and a few more.
  for (let i = 0; i < CAP + 8; i++) {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' })
    s.on('error', () => {})
    await once(s, 'connect')
    flood.push(s)
  }
  const agent = new Agent({ localAddress: '127.0.0.3' })
  t.teardown(async () => { await agent.close() })
  const res = await request(`${mp.baseUrl}/health`, { dispatcher: agent, headersTimeout: 10_000 })
  const text = await res.body.text()
  t.equal(res.statusCode, 503, 'a new connection past the cap is answered 503')
  t.equal(res.headers['retry-after'], '5', 'with Retry-After')
  t.match(text, /connection limit reached/, 'and says why')

  const upgrade = await new Promise<{ status: number, retryAfter: unknown }>((resolve, reject) => {
    const ws = new WebSocket(mp.websocketUrl, ['xmpp'], { localAddress: '127.0.0.3', handshakeTimeout: 10_000 })
    ws.on('open', () => { ws.close(); resolve({ status: 101, retryAfter: null }) })
    ws.on('unexpected-response', (_req, r) => { r.resume(); resolve({ status: r.statusCode ?? 0, retryAfter: r.headers['retry-after'] }) })
    ws.on('error', reject)
  })
  t.same(upgrade, { status: 503, retryAfter: '5' }, 'an upgrade past the cap too, before upgrading')
  await chatGoesOn(t, 'at the cap')
})

t.test('once the flood goes, new connections are served again', async (t) => {
  for (const s of flood.splice(0)) s.destroy()
  const agent = new Agent({ localAddress: '127.0.0.3' })
  t.teardown(async () => { await agent.close() })
  await waitFor(async () => {
    const res = await request(`${mp.baseUrl}/health`, { dispatcher: agent, headersTimeout: 10_000, reset: true })
    await res.body.dump()
    return res.statusCode === 200
  }, 15_000, 'a new connection to be served')
  t.pass('served')
  t.ok(await refusedTotal(mp.baseUrl, 'max-connections') >= 2, '/metrics counted the refusals')
  await chatGoesOn(t, 'after the flood')
})
