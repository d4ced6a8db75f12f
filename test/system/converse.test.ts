// Converse.js, served by Megaphone at /converse/ from the installed npm
// package, in headless Chromium against the real ejabberd: two users log in
// over WebSocket and chat; then one user's network drops (a loopback proxy
// between that browser and Megaphone cuts its connections and refuses new
// ones), messages are sent to that user while it is away, and when the
// network is back Converse resumes its stream (XEP-0198 <resumed/>, no new
// log-in) and shows every message exactly once.
import t from 'tap'
import { request } from 'undici'
import { startMegaphone } from '../helpers/megaphone.js'
import { registerContacts, registerUsers, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { logIn, openChat, PASSWORD, sendTo, shown, useChromium, waitShown, WAIT_MS } from '../helpers/converse.js'

const ej = testEjabberd()
const openConverse = useChromium(t).open

t.test('Megaphone serves Converse.js at /converse/, preconfigured for its own endpoints', async (t) => {
  const mp = await startMegaphone(t)
  const page = await request(`${mp.baseUrl}/converse/`)
  t.equal(page.statusCode, 200)
  const html = await page.body.text()
  t.match(html, /"websocket_url":"\/xmpp-websocket"/, 'WebSocket first')
  t.match(html, /"bosh_service_url":"\/http-bind"/, 'BOSH as the fallback')
  t.match(html, /"enable_smacks":true/, 'XEP-0198 on')
  t.match(page.headers['content-security-policy'], /default-src 'self'/)
  const js = await request(`${mp.baseUrl}/converse/dist/converse.min.js`)
  t.equal(js.statusCode, 200, 'the package\'s files from node_modules')
  t.match(js.headers['content-type'], /javascript/)
  t.ok(js.headers.etag, 'with an ETag')
  await js.body.dump()

  const off = await startMegaphone(t, { env: { MEGAPHONE_CLIENT_CONVERSE: 'false' } })
  const none = await request(`${off.baseUrl}/converse/`)
  t.equal(none.statusCode, 404, 'turned off: not served')
  await none.body.dump()
})

t.test('Converse.js: two users chat over WebSocket; one loses its network, is sent messages, and resumes its stream (XEP-0198) showing each once', async (t) => {
  const prefix = 'conv'
  const mp = await startMegaphone(t)
  const { jidA, jidB } = await registerContacts(t, prefix, PASSWORD)
  // A reaches Megaphone through a proxy that plays its network; B directly.
  const url = new URL(mp.baseUrl)
  const network = await FaultProxy.start(url.hostname, Number(url.port))
  t.teardown(async () => await network.close())

  const pageA = await openConverse(`http://127.0.0.1:${network.port}`)
  const pageB = await openConverse(mp.baseUrl)
  await logIn(pageA, jidA)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  t.equal(mp.app.websocket.size, 2, 'both over WebSocket')
  t.equal(mp.app.bosh.size, 0, 'neither over BOSH')
  const socketA = pageA.sockets[0]
  t.ok(socketA?.received.some((f) => f.startsWith('<enabled ') && f.includes("resume='true'")), 'A enabled stream management with resumption')

  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageA, jidB, 'hello from A')
  await waitShown(pageB, jidA, 'hello from A')
  await sendTo(pageB, jidA, 'hello from B')
  await waitShown(pageA, jidB, 'hello from B')

  // A's network goes down: its WebSocket is cut, and reconnections fail.
  network.setRefusing(true)
  network.cut()
  await waitFor(() => socketA?.closed === true, WAIT_MS, 'A\'s browser to see its WebSocket closed')
  const away = ['while away 1', 'while away 2', 'while away 3']
  for (const text of away) await sendTo(pageB, jidA, text)
  // Sent by B's browser before A's network is back; ejabberd holds them for A's session, which waits to be resumed.
  await waitFor(() => pageB.sockets.some((s) => s.sent.some((f) => f.includes('while away 3'))), WAIT_MS, 'B\'s browser to send them')
  t.equal(await shown(pageA, jidB, 'while away'), 0, 'A has not seen them yet')

  network.setRefusing(false)
  await waitFor(() => pageA.sockets.some((s, i) => i > 0 && s.received.some((f) => f.startsWith('<resumed '))), WAIT_MS, 'A\'s Converse to resume its stream')
  const later = pageA.sockets.slice(1)
  t.ok(later.some((s) => s.sent.some((f) => f.startsWith('<resume '))), 'A asked to resume its stream')
  t.ok(later.some((s) => s.received.some((f) => f.startsWith('<resumed '))), 'and got XEP-0198 <resumed/>')
  t.notOk(later.some((s) => s.sent.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind'))), 'no new resource bound: the same session goes on')
  for (const text of away) await waitShown(pageA, jidB, text)
  for (const text of [...away, 'hello from B']) t.equal(await shown(pageA, jidB, text), 1, `A shows "${text}" exactly once`)
  t.equal(await sessionsWithPrefix(prefix), 2, 'still one session each in ejabberd')

  await sendTo(pageA, jidB, 'back again')
  await waitShown(pageB, jidA, 'back again')
  t.equal(await shown(pageB, jidA, 'back again'), 1)
  t.same(pageB.errors, [], 'no console errors on B')
})

t.test('Converse.js over BOSH: when the link to ejabberd is lost, Converse reconnects by itself instead of logging the user out', async (t) => {
  const prefix = 'convb'
  const proxy = await FaultProxy.start('127.0.0.1', ej.linkPort)
  t.teardown(async () => await proxy.close())
  // BOSH only (no WebSocket endpoint), and a link that can be cut.
  const mp = await startMegaphone(t, {
    linkPort: proxy.port,
    env: { MEGAPHONE_WEBSOCKET_ENABLED: 'false', MEGAPHONE_LINK_RECONNECT_MIN_DELAY_MS: '50', MEGAPHONE_LINK_RECONNECT_MAX_DELAY_MS: '200' }
  })
  const [a] = await registerUsers(prefix, 1, PASSWORD) as [string]
  const page = await openConverse(mp.baseUrl)
  await logIn(page, `${a}@${ej.domain}`)
  await waitFor(() => mp.app.bosh.size === 1, WAIT_MS, 'a BOSH session in Megaphone')
  const first = [...mp.app.bosh.sids()][0]

  proxy.cut()
  // The held request is answered system-shutdown; Converse logs in again on its own.
  await waitFor(() => mp.app.bosh.size === 1 && [...mp.app.bosh.sids()][0] !== first, WAIT_MS, 'Converse to open a new BOSH session')
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 1, WAIT_MS, 'the user online again in ejabberd')
  t.equal(await page.page.locator('#converse-login').count(), 0, 'the log-in form never came back: the user was not logged out')
  t.same(page.errors.filter((e) => !/system-shutdown|BOSH|request|status/i.test(e)), [], 'no console errors other than the dropped connection')
})
