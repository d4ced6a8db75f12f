// Slow and greedy clients (issue 12) against one Megaphone while two pairs of
// users chat through it (BOSH and WebSocket): connections that never send a
// byte, headers and bodies trickled a byte at a time (slowloris), and one
// address holding many idle keep-alive connections. Each is cut off by its
// bound with a clear answer (408, or Connection: close on the response past
// the idle cap), counted in /metrics, and the chat never notices.
// The attackers connect from 127.0.0.2 and 127.0.0.3, the chat from 127.0.0.1.
import t from 'tap'
import { testEjabberd } from '../helpers/ejabberd.js'
import { waitFor } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { startLiveChat } from '../helpers/live-chat.js'
import { refusedTotal } from '../helpers/metrics.js'
import { openMany, openRaw, statusOf, trickle, type RawConnection } from '../helpers/raw-http.js'
import { body, postBody } from '../helpers/bosh-http.js'

// Thousands of silent and trickling connections beside a chat: allow more than .taprc's 120 s when three files run at once.
t.setTimeout(240_000)

const ej = testEjabberd()
const HEADERS_SECONDS = 2
const BODY_SECONDS = 3
const IDLE_PER_ADDRESS = 20
// Longer than the 200 one-by-one requests of the keep-alive test take on a
// loaded machine: an idle connection that timed out meanwhile would leave
// room under the cap, and the count of Connection: close answers would differ.
const KEEP_ALIVE_SECONDS = 40

const mp = await startMegaphone(t, {
  env: {
    MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS: String(HEADERS_SECONDS),
    MEGAPHONE_HTTP_REQUEST_BODY_SECONDS: String(BODY_SECONDS),
    // Strophe asks for wait 10: keep-alive stays past it.
    MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '10',
    MEGAPHONE_HTTP_KEEP_ALIVE_SECONDS: String(KEEP_ALIVE_SECONDS),
    MEGAPHONE_LIMITS_IDLE_CONNECTIONS_PER_ADDRESS: String(IDLE_PER_ADDRESS)
  }
})
const port = Number(new URL(mp.baseUrl).port)
const chat = await startLiveChat(t, mp, 'slowchat')

const closedCount = (conns: RawConnection[]): number => conns.filter((c) => c.closed).length
const longest = (conns: RawConnection[]): number => Math.max(...conns.map((c) => (c.closedAt ?? Date.now()) - c.openedAt))

t.test('2,000 connections that never send a byte are closed with 408 once http.requestHeadersSeconds have passed', async (t) => {
  const before = await refusedTotal(mp.baseUrl, 'request-headers-timeout')
  const conns = await openMany(2_000, port)
  await waitFor(() => closedCount(conns) === conns.length, 60_000, 'every silent connection closed by Megaphone')
  t.equal(conns.filter((c) => statusOf(c) === 408).length, 2_000, 'each was answered 408 Request Timeout')
  t.equal(conns.filter((c) => c.received.includes(`request headers not complete within ${HEADERS_SECONDS} s`)).length, 2_000, 'saying why')
  t.equal(await refusedTotal(mp.baseUrl, 'request-headers-timeout') - before, 2_000, 'counted in /metrics')
  t.comment(`the last silent connection lived ${longest(conns)} ms (bound ${HEADERS_SECONDS} s)`)
  await chat.checkpoint(t, '2,000 silent connections')
})

t.test('trickled headers are cut off, on a new connection and on a keep-alive connection\'s next request', async (t) => {
  const endless = `POST ${mp.config.bosh.path} HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(400)}\r\n`
  const fresh = Array.from({ length: 20 }, () => openRaw(port))
  for (const c of fresh) trickle(c, endless, 100)
  const reused = Array.from({ length: 20 }, () => openRaw(port))
  await Promise.all(reused.map(async (c) => {
    await c.connected
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitFor(() => /\r\n\r\n/.test(c.received) || c.closed, 10_000, 'the first response')
    trickle(c, endless, 100)
  }))
  t.equal(closedCount(reused), 0, 'the first request of each keep-alive connection was served')
  const all = [...fresh, ...reused]
  await waitFor(() => closedCount(all) === all.length, 30_000, 'every trickling connection closed')
  t.equal(fresh.filter((c) => statusOf(c) === 408).length, fresh.length, 'new connections: 408')
  t.equal(reused.filter((c) => /HTTP\/1\.1 408 Request Timeout[^]*request headers not complete within/.test(c.received)).length, reused.length,
    'keep-alive connections: their second request gets 408, saying why')
  t.comment(`the longest trickle lasted ${longest(all)} ms (bound ${HEADERS_SECONDS} s)`)
  await chat.checkpoint(t, 'header trickling')
})

t.test('a trickled body is cut off with 408 once http.requestBodySeconds have passed', async (t) => {
  const before = await refusedTotal(mp.baseUrl, 'request-body-timeout')
  const conns = Array.from({ length: 20 }, () => openRaw(port))
  await Promise.all(conns.map(async (c) => {
    await c.connected
    c.socket.write(`POST ${mp.config.bosh.path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n`)
    trickle(c, `<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>${' '.repeat(1000)}`, 100)
  }))
  await waitFor(() => closedCount(conns) === conns.length, 30_000, 'every trickled upload closed')
  t.equal(conns.filter((c) => statusOf(c) === 408).length, conns.length, 'each was answered 408')
  t.match(conns[0]?.received, new RegExp(`request not complete within ${BODY_SECONDS} s`))
  t.equal(await refusedTotal(mp.baseUrl, 'request-body-timeout') - before, conns.length, 'counted in /metrics')
  t.comment(`the longest upload lasted ${longest(conns)} ms (bound ${BODY_SECONDS} s)`)
  await chat.checkpoint(t, 'body trickling')
})

t.test('a held BOSH request (a long-poll longer than both bounds) is answered at its wait, not cut', async (t) => {
  const created = await postBody(mp.boshUrl, body({ rid: 1, to: ej.domain, wait: HEADERS_SECONDS + BODY_SECONDS, hold: 1, ver: '1.6', 'xmpp:version': '1.0' }))
  const sid = /sid='([^']+)'/.exec(created.text)?.[1]
  t.ok(sid, 'a session')
  // The stream features come first; then a request that is held for the whole wait.
  await postBody(mp.boshUrl, body({ rid: 2, sid: sid as string }))
  const started = Date.now()
  const held = await postBody(mp.boshUrl, body({ rid: 3, sid: sid as string }))
  t.equal(held.status, 200)
  t.match(held.text, /^<body [^>]*\/>$|^<body [^>]*><\/body>$/, 'an empty body at the end of the wait')
  t.comment(`held ${Date.now() - started} ms; the header and body bounds are ${HEADERS_SECONDS} s and ${BODY_SECONDS} s`)
  await postBody(mp.boshUrl, body({ rid: 4, sid: sid as string, type: 'terminate' }))
})

t.test('one address holding many idle keep-alive connections keeps limits.idleConnectionsPerAddress of them, then none after keepAliveSeconds', async (t) => {
  const before = await refusedTotal(mp.baseUrl, 'idle-connections-per-address')
  // One request at a time, each on a new connection (opened just before it:
  // an open connection silent for HEADERS_SECONDS would be timed out), which then stays idle.
  const conns: RawConnection[] = []
  for (let i = 0; i < 200; i++) {
    const c = openRaw(port, '127.0.0.3')
    conns.push(c)
    await c.connected
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitFor(() => /\r\n\r\n/.test(c.received) || c.closed, 10_000, 'the response')
  }
  t.equal(conns.filter((c) => statusOf(c) === 200).length, 200, 'every request was answered')
  await waitFor(() => closedCount(conns) >= 200 - IDLE_PER_ADDRESS, 10_000, 'the connections past the cap closed')
  t.equal(conns.length - closedCount(conns), IDLE_PER_ADDRESS, `${IDLE_PER_ADDRESS} idle connections left open`)
  t.equal(conns.filter((c) => /\r\nconnection: close\r\n/i.test(c.received)).length, 200 - IDLE_PER_ADDRESS,
    'each response past the cap said Connection: close, so the client never reuses a connection being closed')
  t.equal(await refusedTotal(mp.baseUrl, 'idle-connections-per-address') - before, 200 - IDLE_PER_ADDRESS, 'counted in /metrics')
  await waitFor(() => closedCount(conns) === conns.length, (KEEP_ALIVE_SECONDS + 15) * 1000, 'the rest closed by the keep-alive timeout')
  t.comment(`the last idle connection lived ${longest(conns)} ms (keepAliveSeconds ${KEEP_ALIVE_SECONDS})`)
  await chat.checkpoint(t, 'idle keep-alive connections')
})

t.test('the chat went on through all of it', async (t) => {
  t.equal(mp.link.status, 'ready', 'the link is up')
  await chat.stop(t)
})
