// The link over TLS (docs/link-protocol.md "TLS"), against the test ejabberd's
// TLS listeners (scripts/ejabberd.yml.template): 127.0.0.3 with tls: true,
// 127.0.0.4 with tls_verify: true as well, both with certificates of the
// private authority scripts/ejabberd.sh makes in <state>/link-tls/.
// Megaphone always verifies the listener's certificate; the HMAC handshake
// runs inside TLS as before. Each refusal is logged, on both sides, as what it is.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { request } from 'undici'
import { Link, type LinkOptions } from '../../lib/link/link.js'
import { linkTlsOptions } from '../../lib/link/tls.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { registerUsers, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { CLOSE, loginInOrder } from '../helpers/ws-xmpp.js'
import { chatInPairs, connect, disconnectAll, PASSWORD as STROPHE_PASSWORD, useBoshInNode } from '../helpers/strophe.js'

const ej = testEjabberd()
const PASSWORD = 'tls-pw'
const TLS_DIR = join(ej.stateDir, 'link-tls')
const CA = join(TLS_DIR, 'ca.pem')
const TLS_ONLY = '127.0.0.3'
const MUTUAL = '127.0.0.4'

/** A Link whose log lines are collected; closed when the test ends. */
function loggedLink (t: Test, opts: Partial<LinkOptions>): { link: Link, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  const link = new Link({
    host: TLS_ONLY,
    port: ej.linkPort,
    secret: ej.secret,
    reconnectMinDelayMs: 2_000,
    reconnectMaxDelayMs: 2_000,
    logger: pino({ level: 'info' }, sink),
    ...opts
  })
  link.start()
  t.teardown(async () => await link.close())
  return { link, lines }
}

/** Waits for a log line of the link's with this error code; the link must not be ready meanwhile. */
async function refusedWith (t: Test, link: Link, lines: Array<Record<string, unknown>>, code: string): Promise<void> {
  const withCode = (): Record<string, unknown> | undefined => lines.find((l) => (l.err as { code?: string } | undefined)?.code === code)
  await waitFor(() => withCode() !== undefined, 10_000, `a link error ${code}`)
  t.equal(withCode()?.msg, 'link socket error', `Megaphone logs the refusal with its code, ${code}`)
  t.not(link.status, 'ready', 'the link is not ready')
  t.equal(link.sessionCount, 0)
}

/** ejabberd's log gains a line matching `pattern` (its logger writes asynchronously). */
async function ejabberdLogs (t: Test, pattern: RegExp, what: string): Promise<void> {
  await waitFor(async () => pattern.test(await ej.readLog()), 10_000, `ejabberd to log ${what}`)
  t.pass(`ejabberd logs ${what}`)
}

t.test('over TLS with the listener\'s authority: BOSH and WebSocket users chat as over TCP; ejabberd logs the TLS version', async (t) => {
  const before = (await ej.readLog()).length
  const mp = await startMegaphone(t, {
    env: { MEGAPHONE_LINK_TARGETS: `${TLS_ONLY}:${ej.linkPort}`, MEGAPHONE_LINK_TLS: 'true', MEGAPHONE_LINK_TLS_CA_FILE: CA }
  })
  t.equal((await request(`${mp.baseUrl}/health`)).statusCode, 200, '/health: the link is ready')
  await waitFor(async () => /TLS established \(tlsv1\.[23]/.test((await ej.readLog()).slice(before)), 10_000, 'ejabberd to log TLS')
  t.pass('ejabberd logs the TLS version the link negotiated')

  useBoshInNode(t)
  const users = await registerUsers('ltls', 4, STROPHE_PASSWORD)
  const clients = await Promise.all(users.map(async (u, i) => await connect(i % 2 === 0 ? mp.boshUrl : mp.websocketUrl, u)))
  await chatInPairs(t, clients, 10)
  await disconnectAll(clients)
})

t.test('the listener\'s certificate is verified: an authority Megaphone does not know, or another name, is refused', async (t) => {
  await t.test('not signed by a known authority (Node\'s public roots only)', async (t) => {
    const { link, lines } = loggedLink(t, { tls: {} })
    await refusedWith(t, link, lines, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    await ejabberdLogs(t, /TLS handshake failed: the front end closed the connection \(does it trust this listener's certificate\?\)/, 'that the front end hung up during TLS')
  })
  await t.test('a server name the certificate does not carry', async (t) => {
    const { link, lines } = loggedLink(t, { tls: linkTlsOptions({ caFile: CA, serverName: 'other.example', certFile: null, keyFile: null }) })
    await refusedWith(t, link, lines, 'ERR_TLS_CERT_ALTNAME_INVALID')
  })
  await t.test('the name the certificate does carry', async (t) => {
    const { link } = loggedLink(t, { tls: linkTlsOptions({ caFile: CA, serverName: 'link.megaphone.test', certFile: null, keyFile: null }) })
    await link.waitReady(10_000)
    t.equal(link.status, 'ready')
  })
})

t.test('mutual TLS (tls_verify: true): without a certificate of the listener\'s cafile Megaphone is refused; with one it links', async (t) => {
  await t.test('without', async (t) => {
    const { link, lines } = loggedLink(t, { host: MUTUAL, tls: linkTlsOptions({ caFile: CA, serverName: null, certFile: null, keyFile: null }) })
    await refusedWith(t, link, lines, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')
    await ejabberdLogs(t, /TLS handshake failed: .*Certificate required/, 'the missing certificate')
  })
  await t.test('with', async (t) => {
    const mp = await startMegaphone(t, {
      env: {
        MEGAPHONE_LINK_TARGETS: `${MUTUAL}:${ej.linkPort}`,
        MEGAPHONE_LINK_TLS: 'true',
        MEGAPHONE_LINK_TLS_CA_FILE: CA,
        MEGAPHONE_LINK_TLS_CERT_FILE: join(TLS_DIR, 'client-cert.pem'),
        MEGAPHONE_LINK_TLS_KEY_FILE: join(TLS_DIR, 'client-key.pem')
      }
    })
    const users = await registerUsers('lmtls', 2, PASSWORD)
    const { clients, jids } = await loginInOrder(mp.websocketUrl, users, PASSWORD)
    const [a, b] = clients as [typeof clients[0], typeof clients[0]]
    a.send(`<message to='${jids[1] as string}' type='chat'><body>over mutual TLS</body></message>`)
    await b.until(/<body>over mutual TLS<\/body>/)
    t.pass('a message crosses the link')
    for (const c of clients) c.send(CLOSE)
    await Promise.all(clients.map(async (c) => await c.closeCode()))
  })
})

t.test('one side with TLS and the other without: each side says what is wrong', async (t) => {
  await t.test('Megaphone with TLS, the listener without: ejabberd sees a TLS hello where a frame should be', async (t) => {
    const { link, lines } = loggedLink(t, { host: '127.0.0.1', tls: linkTlsOptions({ caFile: CA, serverName: null, certFile: null, keyFile: null }) })
    await waitFor(() => lines.some((l) => l.msg === 'link socket error'), 10_000, 'the link to fail')
    t.not(link.status, 'ready')
    await ejabberdLogs(t, /malformed frame .*this looks like a TLS handshake; the front end has TLS on the link, this listener has not/, 'the TLS hello')
  })
  await t.test('Megaphone without TLS, the listener with: no handshake, and the log says to set link.tls', async (t) => {
    const { link, lines } = loggedLink(t, { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 })
    await waitFor(() => lines.some((l) => typeof l.msg === 'string' && l.msg.includes('if the listener has tls: true, set link.tls')), 10_000, 'the handshake timeout')
    t.not(link.status, 'ready')
  })
})
