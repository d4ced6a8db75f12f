// XEP-0206 (XMPP over BOSH) through Megaphone to the real ejabberd: stream
// start, SASL, restart, bind, stream errors, and what a client sees when the
// link to ejabberd fails. Real HTTP; every body is schema-checked at the end.
import t from 'tap'
import { BoshClient, bindRequest, body, checkBodiesAgainstSchema, parseBody, postBody, saslPlain } from '../helpers/bosh-http.js'
import { ctl, registerUsers, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()
const PASSWORD = 'xep206-pw'

t.test('3: session creation starts an XMPP 1.0 stream; the response says so and carries the SASL features', async (t) => {
  const mp = await startMegaphone(t)
  const el = parseBody(await postBody(mp.boshUrl, body({ rid: 10, to: ej.domain, wait: 10, hold: 1, 'xmpp:version': '1.0', 'xml:lang': 'en' })))
  t.equal(el.attrs['xmpp:version'], '1.0')
  t.equal(el.attrs['xmlns:xmpp'], 'urn:xmpp:xbosh')
  t.equal(el.attrs['xmpp:restartlogic'], 'true')
  const mechanisms = el.getChild('features')?.getChild('mechanisms')?.getChildren('mechanism').map((m) => m.getText())
  t.ok(mechanisms?.includes('PLAIN'), 'SASL PLAIN offered')
})

t.test('5: SASL, then a restart returns the new features, then bind gives a full JID in ejabberd with the browser\'s address', async (t) => {
  const mp = await startMegaphone(t)
  const [user] = await registerUsers('x206l', 1, PASSWORD) as [string]
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await c.create()
  await c.request(saslPlain(user, PASSWORD))
  await c.until((el) => el.is('success'), 'SASL success')
  const restarted = await c.restart()
  const features = restarted.getChild('features') ?? (await c.until((el) => el.is('features') && el.getChild('bind') !== undefined, 'features'))
  t.ok(features.getChild('bind'), 'bind offered after the restart')
  await c.request(bindRequest('web', 'b'))
  const bound = await c.until((el) => el.is('iq') && el.attrs.id === 'b', 'bind result')
  t.equal(bound.getChild('bind')?.getChildText('jid'), `${user}@${ej.domain}/web`)
  t.equal(await sessionsWithPrefix('x206l'), 1)
  const ip = await ctl<{ ip: string } | null>('user_ip', user, ej.domain, 'web')
  t.equal(ip?.ip, '127.0.0.1', 'ejabberd sees the HTTP client\'s address')
  await c.terminate()
  await waitFor(async () => await sessionsWithPrefix('x206l') === 0, 10_000, 'session gone')
})

t.test('5: a wrong password gets the SASL failure, and the session lives on', async (t) => {
  const mp = await startMegaphone(t)
  const [user] = await registerUsers('x206f', 1, PASSWORD) as [string]
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await c.create()
  await c.request(saslPlain(user, 'wrong'))
  const failure = await c.until((el) => el.is('failure'), 'SASL failure')
  t.ok(failure.getChild('not-authorized'))
  t.equal(c.terminated, null, 'not a terminal error')
  await c.request(saslPlain(user, PASSWORD))
  await c.until((el) => el.is('success'), 'SASL success on the second try')
  await c.terminate()
})

t.test('8.4: a stream error from ejabberd (resource conflict) ends the session with remote-stream-error and the error inside', async (t) => {
  const mp = await startMegaphone(t)
  const [user] = await registerUsers('x206c', 1, PASSWORD) as [string]
  const first = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await first.login(user, PASSWORD, 'same')
  first.startPolling()
  const second = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await second.login(user, PASSWORD, 'same')
  await waitFor(() => first.terminated !== null, 10_000, 'the first session ended')
  t.equal(first.terminated, 'remote-stream-error')
  const error = first.inbox.find((el) => el.is('error'))
  t.ok(error?.getChild('conflict'), 'the stream error is in the terminate body')
  t.equal(second.terminated, null, 'the new session goes on')
  await second.terminate()
})

t.test('two users chat through Megaphone: presence and UTF-8 messages both ways', async (t) => {
  const mp = await startMegaphone(t)
  const users = await registerUsers('x206m', 2, PASSWORD)
  const [alice, bob] = await Promise.all(users.map(async (u) => {
    const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
    await c.login(u, PASSWORD)
    c.startPolling()
    return c
  })) as [BoshClient, BoshClient]
  const text = 'grüße, 你好, 🎉 & <tags>'
  await alice.send(`<presence xmlns='jabber:client' to='${bob.jid}'/>`)
  await bob.until((el) => el.is('presence') && el.attrs.from === alice.jid, 'alice\'s presence')
  await alice.send(`<message xmlns='jabber:client' to='${bob.jid}' type='chat'><body>${text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</body></message>`)
  const got = await bob.until((el) => el.is('message'), 'alice\'s message')
  t.equal(got.getChildText('body'), text)
  t.equal(got.attrs.from, alice.jid)
  await bob.send(`<message xmlns='jabber:client' to='${alice.jid}' type='chat'><body>back</body></message>`)
  t.equal((await alice.until((el) => el.is('message'), 'bob\'s reply')).getChildText('body'), 'back')
  await Promise.all([alice.terminate(), bob.terminate()])
})

t.test('with trustProxy, ejabberd sees the address from X-Forwarded-For', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_HTTP_TRUST_PROXY: 'true' } })
  // Only the session creation request carries the header: the address is the creating request's.
  const [user] = await registerUsers('x206x', 1, PASSWORD) as [string]
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain, creationHeaders: { 'x-forwarded-for': '198.51.100.23' } })
  await c.login(user, PASSWORD, 'xff')
  t.equal(c.jid, `${user}@${ej.domain}/xff`, 'logged in')
  const ip = await ctl<{ ip: string } | null>('user_ip', user, ej.domain, 'xff')
  t.equal(ip?.ip, '198.51.100.23')
  await c.terminate()
})

t.test('17.2: when the link to ejabberd is lost, held requests get system-shutdown (clients reconnect); new sessions work once it is back', async (t) => {
  const proxy = await FaultProxy.start('127.0.0.1', ej.linkPort)
  t.teardown(async () => await proxy.close())
  const mp = await startMegaphone(t, { linkPort: proxy.port, env: { MEGAPHONE_LINK_RECONNECT_MIN_DELAY_MS: '50', MEGAPHONE_LINK_RECONNECT_MAX_DELAY_MS: '200' } })
  const [user] = await registerUsers('x206d', 1, PASSWORD) as [string]
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await c.login(user, PASSWORD)
  c.startPolling()
  await waitFor(async () => mp.app.bosh.get(c.sid)?.heldCount === 1, 10_000, 'a request held')
  proxy.cut()
  await waitFor(() => c.terminated !== null, 10_000, 'the client told')
  t.equal(c.terminated, 'system-shutdown')
  t.equal(mp.app.bosh.size, 0, 'no session left behind')
  await mp.link.waitReady(10_000)
  const again = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await again.login(user, PASSWORD)
  t.ok(again.jid.startsWith(`${user}@`), 'logged in again over the new link')
  await again.terminate()
})

t.test('XEP-0198 over BOSH: stream management is enabled, acknowledges stanzas, and a lost session resumes in a new one', async (t) => {
  const mp = await startMegaphone(t)
  const [user, peer] = await registerUsers('x206sm', 2, PASSWORD) as [string, string]
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await c.login(user, PASSWORD, 'sm')
  await c.request("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
  const enabled = await c.until((el) => el.is('enabled', 'urn:xmpp:sm:3'), 'sm enabled')
  t.equal(enabled.attrs.resume, 'true', 'resumable')
  const previd = enabled.attrs.id as string
  await c.request("<r xmlns='urn:xmpp:sm:3'/>")
  const a = await c.until((el) => el.is('a', 'urn:xmpp:sm:3'), 'sm ack')
  t.match(a.attrs.h, /^\d+$/, 'ejabberd counts what it handled')

  // The BOSH session dies without a terminate (a rid beyond the window ends it); ejabberd keeps the stream for resumption.
  await postBody(c.url, body({ rid: c.rid + 5, sid: c.sid }))
  const other = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await other.login(peer, PASSWORD, 'peer')
  // Held until other's terminate: nothing else of other's is open.
  const sent = other.request(`<message xmlns='jabber:client' to='${user}@${ej.domain}/sm' type='chat'><body>while away</body></message>`)

  const again = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await again.create()
  await again.until((el) => el.is('features'), 'features')
  await again.request(saslPlain(user, PASSWORD))
  await again.until((el) => el.is('success'), 'SASL success')
  await again.restart()
  await again.until((el) => el.is('features') && el.getChild('sm', 'urn:xmpp:sm:3') !== undefined, 'features with sm')
  await again.request(`<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>`)
  await again.until((el) => el.is('resumed', 'urn:xmpp:sm:3'), 'resumed')
  const msg = await again.until((el) => el.is('message') && el.getChildText('body') === 'while away', 'the message sent while away')
  t.equal(msg.attrs.to, `${user}@${ej.domain}/sm`, 'delivered to the resumed session')
  await Promise.all([again.terminate(), other.terminate(), sent])
})

checkBodiesAgainstSchema(t)
