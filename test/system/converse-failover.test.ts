// Converse.js behind HAProxy, in headless Chromium against the real ejabberd,
// when the Megaphone process holding it goes away: drained and closed (a
// rolling restart), or killed with SIGKILL. Either way Converse comes back by
// itself on the other process, resuming its stream (XEP-0198), and shows
// every message exactly once; the log-in form never comes back.
import t from 'tap'
import { startMegaphone } from '../helpers/megaphone.js'
import { registerContacts, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { INSTANCES, startHaproxy } from '../helpers/haproxy.js'
import { megaphoneMemory, startMegaphoneProcess, type Megaphone as MegaphoneProcess } from '../../scripts/bench/megaphone-child.js'
import { logIn, openChat, PASSWORD, sendTo, shown, useChromium, waitShown, WAIT_MS, type ConversePage } from '../helpers/converse.js'

const ej = testEjabberd()
const openConverse = useChromium(t).open

t.test('rolling restart behind HAProxy: the process holding a Converse.js user shuts down; Converse resumes its stream on the other process (XEP-0198) and loses no message', async (t) => {
  const prefix = 'cfroll'
  const w1 = await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: INSTANCES[0] as string, MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  const w2 = await startMegaphone(t, { env: { MEGAPHONE_INSTANCE: INSTANCES[1] as string, MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  const base = await startHaproxy(t, [w1, w2])
  const { jidA, jidB } = await registerContacts(t, prefix, PASSWORD)
  const pageA = await openConverse(base)
  await logIn(pageA, jidA)
  await waitFor(() => w1.app.websocket.size + w2.app.websocket.size === 1, WAIT_MS, 'A\'s WebSocket session')
  // The process that holds A is the one restarted.
  const [restarted, other] = w1.app.websocket.size === 1 ? [w1, w2] : [w2, w1]
  const pageB = await openConverse(base)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageB, jidA, 'before the restart')
  await waitShown(pageA, jidB, 'before the restart')

  // Restart the process that holds A: draining, then closed, as SIGTERM does.
  await restarted.drain(0)
  await restarted.close()
  const away = ['during the restart 1', 'during the restart 2']
  for (const text of away) await sendTo(pageB, jidA, text)

  await waitFor(() => pageA.sockets.slice(1).some((s) => s.received.some((f) => f.startsWith('<resumed '))), WAIT_MS, 'A\'s Converse to resume on the other process')
  t.ok(pageA.sockets.slice(1).every((s) => !s.sent.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind'))), 'resumed, not bound anew')
  t.ok(other.app.websocket.size >= 1, 'A is now on the other process')
  for (const text of [...away, 'before the restart']) {
    await waitShown(pageA, jidB, text)
    t.equal(await shown(pageA, jidB, text), 1, `A shows "${text}" exactly once`)
  }
})

t.test('Converse.js through HAProxy: kill -9 of the Megaphone process holding it; Converse comes back by itself on the other process, and a message sent afterwards arrives', async (t) => {
  const prefix = 'cfkill'
  const procs: MegaphoneProcess[] = []
  for (const instance of INSTANCES.slice(0, 2)) {
    const p = await startMegaphoneProcess(ej, [], { MEGAPHONE_INSTANCE: instance, MEGAPHONE_HTTP_TRUST_PROXY: 'true', MEGAPHONE_LOG_LEVEL: 'warn' })
    t.teardown(() => { if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL') })
    procs.push(p)
  }
  const base = await startHaproxy(t, procs.map((p) => ({ baseUrl: new URL(p.url).origin })))
  const { jidA, jidB } = await registerContacts(t, prefix, PASSWORD)
  const linkSessions = async (p: MegaphoneProcess): Promise<number> => (await megaphoneMemory(p, { gc: false })).linkSessions
  const pageA = await openConverse(base)
  await logIn(pageA, jidA)
  await waitFor(async () => (await linkSessions(procs[0] as MegaphoneProcess)) + (await linkSessions(procs[1] as MegaphoneProcess)) === 1, WAIT_MS, 'A\'s session in one process')
  // The process that holds A is killed; B talks to the other one directly, out of harm's way.
  const [killed, survivor] = (await linkSessions(procs[0] as MegaphoneProcess)) === 1 ? procs as [MegaphoneProcess, MegaphoneProcess] : [procs[1], procs[0]] as [MegaphoneProcess, MegaphoneProcess]
  const pageB = await openConverse(new URL(survivor.url).origin)
  await logIn(pageB, jidB)
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 2, WAIT_MS, 'both sessions in ejabberd')
  await openChat(pageA, jidB)
  await openChat(pageB, jidA)
  await sendTo(pageB, jidA, 'before the kill')
  await waitShown(pageA, jidB, 'before the kill')
  const firstSocket = pageA.sockets.length - 1

  const killedAt = Date.now()
  killed.child.kill('SIGKILL')
  await waitFor(() => pageA.sockets[firstSocket]?.closed === true, WAIT_MS, 'A\'s browser to see its WebSocket drop')
  // Back: a later WebSocket that resumed the stream (XEP-0198) or bound a new resource, without anyone touching the page.
  const later = (): ConversePage['sockets'] => pageA.sockets.slice(firstSocket + 1)
  const resumed = (): boolean => later().some((s) => s.received.some((f) => f.startsWith('<resumed ')))
  const bound = (): boolean => later().some((s) => s.received.some((f) => f.includes('urn:ietf:params:xml:ns:xmpp-bind') && f.includes('<jid>')))
  await waitFor(() => resumed() || bound(), 30_000, 'A\'s Converse to come back by itself')
  const backMs = Date.now() - killedAt
  await waitFor(async () => (await linkSessions(survivor)) === 2, WAIT_MS, 'A\'s session on the surviving process')
  t.equal(await pageA.page.locator('#converse-login').count(), 0, 'the log-in form never came back: the user was not logged out')
  t.equal(await sessionsWithPrefix(prefix), 2, 'one session each in ejabberd')

  await sendTo(pageB, jidA, 'after the kill')
  await waitShown(pageA, jidB, 'after the kill')
  const shownMs = Date.now() - killedAt
  t.equal(await shown(pageA, jidB, 'after the kill'), 1, 'A shows the message sent after the kill, once')
  t.equal(await shown(pageA, jidB, 'before the kill'), 1, 'and the one before it, still once')
  t.comment(`kill -9 to Converse back (${resumed() ? 'resumed its stream, XEP-0198' : 'logged in again'}) after ${backMs} ms, ` +
    `over ${later().length} new WebSocket(s); to the next message shown: ${shownMs} ms`)
})
