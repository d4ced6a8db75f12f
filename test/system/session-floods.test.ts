// Session-creation floods from one address (issue 12) while two pairs of
// users chat through Megaphone (BOSH and WebSocket, from 127.0.0.1): the
// per-address creation rate (a token bucket) and the per-address cap on open
// sessions refuse the flood from 127.0.0.2 with the chosen answers, BOSH
// policy-violation (XEP-0124 17.2; 403 for a legacy client, 17.1) and HTTP
// 429 before a WebSocket upgrade, while other addresses and the chat go on.
import t from 'tap'
import { Agent, request } from 'undici'
import WebSocket from 'ws'
import { testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { startLiveChat } from '../helpers/live-chat.js'
import { readMetrics, refusedTotal } from '../helpers/metrics.js'
import { body, recordBody, checkBodiesAgainstSchema } from '../helpers/bosh-http.js'

const ej = testEjabberd()
const CAP = 20
const BURST = 10
const PER_SECOND = 5

const mp = await startMegaphone(t, {
  env: {
    MEGAPHONE_LIMITS_MAX_SESSIONS_PER_ADDRESS: String(CAP),
    MEGAPHONE_LIMITS_SESSION_BURST_PER_ADDRESS: String(BURST),
    MEGAPHONE_LIMITS_SESSIONS_PER_SECOND_PER_ADDRESS: String(PER_SECOND)
  }
})
const chat = await startLiveChat(t, mp, 'floodchat')

/** An HTTP client whose connections come from `localAddress`. */
function from (localAddress: string): Agent {
  const agent = new Agent({ localAddress, connections: 64 })
  t.teardown(async () => { await agent.close() })
  return agent
}
const attacker = from('127.0.0.2')

interface Creation { sid: string | null, condition: string | null, status: number }

async function create (dispatcher: Agent, attrs: Record<string, string | number> = { ver: '1.6' }): Promise<Creation> {
  const res = await request(mp.boshUrl, {
    method: 'POST',
    dispatcher,
    body: body({ rid: 1000, to: ej.domain, wait: 5, hold: 1, 'xmpp:version': '1.0', ...attrs }),
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    headersTimeout: 30_000,
    bodyTimeout: 30_000
  })
  const text = await res.body.text()
  recordBody(text)
  return { sid: /sid='([^']+)'/.exec(text)?.[1] ?? null, condition: /condition='([\w-]+)'/.exec(text)?.[1] ?? null, status: res.statusCode }
}

async function terminate (dispatcher: Agent, sid: string): Promise<void> {
  const res = await request(mp.boshUrl, { method: 'POST', dispatcher, body: body({ rid: 1001, sid, type: 'terminate' }), headersTimeout: 30_000 })
  recordBody(await res.body.text())
}

/** A WebSocket upgrade from `localAddress`: the status when refused, 101 when accepted (then closed). */
async function upgrade (localAddress: string): Promise<{ status: number, retryAfter: string | null, text: string }> {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(mp.websocketUrl, ['xmpp'], { localAddress, handshakeTimeout: 10_000 })
    ws.on('open', () => {
      ws.close()
      resolve({ status: 101, retryAfter: null, text: '' })
    })
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null, text }))
    })
    ws.on('error', reject)
  })
}

const sessions: string[] = []

t.test('a burst of creations from one address: the rate limit refuses the excess with policy-violation (XEP-0124 17.2)', async (t) => {
  const before = await refusedTotal(mp.baseUrl, 'session-rate')
  const answers = await Promise.all(Array.from({ length: 60 }, async () => await create(attacker)))
  const created = answers.filter((a) => a.sid !== null)
  const refused = answers.filter((a) => a.condition === 'policy-violation')
  t.equal(created.length + refused.length, answers.length, 'every answer is a session or policy-violation')
  t.ok(refused.length > 0, `refused: ${refused.length}`)
  t.ok(created.length >= 1 && created.length <= CAP, `created: ${created.length}`)
  t.ok(answers.every((a) => a.status === 200), 'as terminal binding conditions, not HTTP errors (XEP-0124 17.1)')
  t.equal(await refusedTotal(mp.baseUrl, 'session-rate') - before, refused.length, 'counted in /metrics by kind')
  sessions.push(...created.map((a) => a.sid as string))
  t.comment(`60 at once from one address: ${created.length} created, ${refused.length} refused (burst ${BURST}, ${PER_SECOND}/s)`)
  const other = await create(from('127.0.0.3'))
  t.ok(other.sid, 'another address creates a session meanwhile')
  if (other.sid !== null) await terminate(from('127.0.0.3'), other.sid)
  await chat.checkpoint(t, 'a burst of creations')
})

t.test('creations at the allowed rate from one address: the cap on open sessions refuses the one past it, until one ends', async (t) => {
  let attempts = 0
  await waitFor(async () => {
    attempts++
    const a = await create(attacker)
    if (a.sid !== null) sessions.push(a.sid)
    return await refusedTotal(mp.baseUrl, 'sessions-per-address') > 0
  }, 30_000, 'the cap to refuse a creation', 1000 / PER_SECOND)
  t.equal(sessions.length, CAP, `${CAP} sessions open from the address`)
  t.comment(`${attempts} attempts to reach the cap of ${CAP}`)
  // The cap is on BOSH and WebSocket sessions together: an upgrade from that address is refused before it happens.
  const ws = await upgrade('127.0.0.2')
  t.equal(ws.status, 429, 'a WebSocket upgrade from the address: 429')
  t.equal(ws.retryAfter, null, 'with no Retry-After: only the end of a session frees a place')
  t.match(ws.text, /too many sessions open from this address/)
  await terminate(attacker, sessions.pop() as string)
  await waitFor(async () => (await create(attacker).then((a) => {
    if (a.sid !== null) sessions.push(a.sid)
    return a.sid !== null
  })), 10_000, 'a creation after one session ended', 1000 / PER_SECOND)
  t.pass('a place came free when a session ended')
  await chat.checkpoint(t, 'the cap')
})

t.test('a legacy client (no ver, XEP-0124 17.1) refused by the limits gets HTTP 403', async (t) => {
  const legacy = await create(attacker, {})
  t.equal(legacy.status, 403)
})

t.test('WebSocket upgrades past the rate get 429 with Retry-After, before the upgrade', async (t) => {
  for (const sid of sessions.splice(0)) await terminate(attacker, sid)
  // From an address of its own, whose bucket is full.
  const answers = await Promise.all(Array.from({ length: 30 }, async () => await upgrade('127.0.0.4')))
  const refused = answers.filter((a) => a.status === 429)
  const accepted = answers.filter((a) => a.status === 101)
  t.ok(refused.length > 0, `refused: ${refused.length} of 30`)
  t.ok(accepted.length >= 1 && accepted.length <= CAP, `accepted: ${accepted.length} of 30`)
  t.equal(accepted.length + refused.length, 30, 'every upgrade was accepted or refused with 429')
  t.ok(refused.every((a) => a.retryAfter !== null && Number(a.retryAfter) >= 1), 'each with a Retry-After in seconds')
  t.match(refused[0]?.text, /sessions created too fast from this address/)
  const metrics = await readMetrics(mp.baseUrl)
  t.ok((metrics.get('megaphone_limits_addresses{table="rate"}') ?? 0) >= 1, 'the address is in the rate table')
  await chat.checkpoint(t, 'a WebSocket flood')
})

t.test('the chat went on through all of it', async (t) => {
  await chat.stop(t)
})

checkBodiesAgainstSchema(t)
