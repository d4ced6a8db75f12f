// The run's ejabberd and its control calls: the helpers of
// test/helpers/ejabberd.ts and each function of megaphone_ctl
// (ejabberd/src/megaphone_ctl.erl), against the real server.
import t from 'tap'
import { request } from 'undici'
import { BoshClient, body, parseBody, postBody } from '../helpers/bosh-http.js'
import {
  connectedUsers,
  ctl,
  evalErlang,
  register,
  registerUsers,
  sessionsWithPrefix,
  testEjabberd,
  unregister,
  waitFor,
} from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()
const PASSWORD = 'pw'

t.test('the setup started the test ejabberd (started)', async t => {
  t.match(ej.node, /^megaphone-[0-9a-f]{8}@localhost$/)
  t.equal(ej.host, '127.0.0.1')
  t.equal(ej.boshUrl, `http://127.0.0.1:${ej.httpPort}/http-bind`)
  t.equal(await ctl('started'), true)
})

t.test('the link listeners are configured with the secret (link_listeners)', { skip: !ej.link && 'MEGAPHONE_EJABBERD_NO_LINK=1' }, async t => {
  t.match(ej.secret, /^[0-9a-f]{64}$/)
  // The default-valued listener, its twin with a 1 s heartbeat timeout for
  // listener.test.ts, and the two TLS listeners of link-tls.test.ts.
  t.same(await ctl('link_listeners'), ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) => ({ ip, port: ej.linkPort })))
})

t.test('register creates an account, then resets its password; any bytes travel (register, check_password)', async t => {
  const awkward = 'pw"\\é -x $(no) \'q\''
  t.equal(await ctl('register', 'smoke-alice', ej.domain, awkward), 'registered')
  t.equal(await ctl('check_password', 'smoke-alice', ej.domain, awkward), true)
  t.equal(await ctl('register', 'smoke-alice', ej.domain, '-second'), 'password_reset')
  t.equal(await ctl('check_password', 'smoke-alice', ej.domain, '-second'), true)
  t.equal(await ctl('check_password', 'smoke-alice', ej.domain, awkward), false)
  await register('smoke-alice', 'third')
  t.equal(await ctl('check_password', 'smoke-alice', ej.domain, 'third'), true)
})

t.test('bulk registration creates every user; no sessions yet (register_bulk, users, sessions, connected)', async t => {
  t.same(await ctl('register_bulk', 'smoke-bulkc-', ej.domain, 3, PASSWORD), { registered: 3, existed: 0 })
  t.same(await ctl('register_bulk', 'smoke-bulkc-', ej.domain, 4, PASSWORD), { registered: 1, existed: 3 })
  const names = await registerUsers('smoke-bulk-', 50, PASSWORD)
  t.equal(names.length, 50)
  t.equal(names[49], 'smoke-bulk-50')
  const users = await ctl<string[]>('users', ej.domain)
  t.ok(users.includes('smoke-bulk-50') && users.includes('smoke-bulkc-4'), 'users lists them')
  t.same(users, [...users].sort(), 'in order')
  t.equal(await sessionsWithPrefix('smoke-bulk-'), 0)
  t.equal(await ctl('sessions', 'SMOKE-BULK-', ej.domain), 0, 'the prefix is nodeprep\'ed')
  t.ok((await connectedUsers()) >= 0)
})

t.test('unregister removes the account (unregister)', async t => {
  await register('smoke-gone', PASSWORD)
  t.equal(await ctl('unregister', 'smoke-gone', ej.domain), 'ok')
  t.notOk((await ctl<string[]>('users', ej.domain)).includes('smoke-gone'))
  await unregister('smoke-bulkc-4')
  t.notOk((await ctl<string[]>('users', ej.domain)).includes('smoke-bulkc-4'))
})

t.test('a session through Megaphone: its address, its link, its c2s, then killed (user_ip, links_used, session_pids, kill_c2s)',
  { skip: !ej.link && 'MEGAPHONE_EJABBERD_NO_LINK=1' }, async t => {
    const [user] = await registerUsers('smoke-sess', 1, PASSWORD) as [string]
    const mp = await startMegaphone(t)
    const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
    await c.login(user, PASSWORD, 'ctl')
    const address = await ctl<{ ip: string, port: number }>('user_ip', user, ej.domain, 'ctl')
    t.equal(address.ip, '127.0.0.1', 'the browser\'s address, as Megaphone saw it')
    t.ok(Number.isInteger(address.port) && address.port > 0, 'and its port')
    t.equal(await ctl('user_ip', user, ej.domain, 'no-such-resource'), null)
    t.same(await ctl('links_used', 'smoke-sess', ej.domain), { sessions: 1, links: 1 })
    const pids = await ctl<string[]>('session_pids')
    t.ok(pids.length >= 1 && pids.every((p) => /^<\d+\.\d+\.\d+>$/.test(p)), 'c2s pids of this node')
    t.equal(await ctl('kill_c2s', user, ej.domain, 'ctl'), 'ok')
    await waitFor(async () => (await sessionsWithPrefix('smoke-sess')) === 0, 10_000, 'the killed session to go')
    t.same(await ctl('links_used', 'smoke-sess', ej.domain), { sessions: 0, links: 0 })
    await t.rejects(ctl('kill_c2s', user, ej.domain, 'ctl'), /no_session/)
  })

t.test('a session on ejabberd\'s own BOSH is on no link, and its rids are readable (links_used, bosh_state)', async t => {
  const [user] = await registerUsers('smoke-modb', 1, PASSWORD) as [string]
  const c = new BoshClient(ej.boshUrl, { domain: ej.domain })
  await c.login(user, PASSWORD, 'modb')
  t.same(await ctl('links_used', 'smoke-modb', ej.domain), { sessions: 1, links: 0 })
  t.same(await ctl('bosh_state', c.sid), { prev_rid: c.rid, receivers: [] })
  await c.terminate()
  await t.rejects(ctl('bosh_state', 'no-such-sid'), /no_bosh_session/)
})

t.test('a new mod_bosh session starts at its first rid (bosh_state)', async t => {
  const created = parseBody(await postBody(ej.boshUrl, body({ rid: 41, to: ej.domain, wait: 10, hold: 1, 'xmpp:version': '1.0' })))
  t.same(await ctl('bosh_state', created.attrs.sid as string), { prev_rid: 41, receivers: [] })
})

t.test('a roster item added is on the user\'s roster (add_roster_item)', async t => {
  const [a, b] = await registerUsers('smoke-rost', 2, PASSWORD) as [string, string]
  t.equal(await ctl('add_roster_item', a, ej.domain, `${b}@${ej.domain}`, 'Bea', 'both'), 'ok')
  const c = new BoshClient(ej.boshUrl, { domain: ej.domain })
  await c.login(a, PASSWORD, 'roster')
  await c.request("<iq xmlns='jabber:client' type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
  const result = await c.until((el) => el.is('iq') && el.attrs.id === 'roster', 'the roster')
  const item = result.getChild('query')?.getChild('item')
  t.same(item?.attrs, { jid: `${b}@${ej.domain}`, name: 'Bea', subscription: 'both' })
  await c.terminate()
})

t.test('an unknown function is refused by name; parallel calls are safe', async t => {
  await t.rejects(ctl('no_such_function'), /no_such_function/)
  await t.rejects(ctl('call', 'started', ''), /no_such_function/, 'call itself is not callable')
  const counts = await Promise.all(Array.from({ length: 16 }, (_, i) => sessionsWithPrefix(`smoke-par-${i}-`)))
  t.same(counts, new Array(16).fill(0))
})

t.test('over HTTP, megaphone_ctl answers only a POST that carries the node\'s cookie, with a JSON array of strings', async t => {
  const url = `http://${ej.host}:${ej.httpPort}/megaphone-ctl/connected`
  const post = async (headers: Record<string, string>, body: string, method = 'POST'): Promise<number> => {
    const res = await request(url, { method, headers, body: method === 'POST' ? body : undefined })
    await res.body.text()
    return res.statusCode
  }
  t.equal(await post({}, '[]'), 403, 'no cookie: 403')
  t.equal(await post({ 'x-megaphone-ctl': 'x'.repeat(ej.cookie.length) }, '[]'), 403, 'a wrong cookie: 403')
  t.equal(await post({ 'x-megaphone-ctl': ej.cookie }, '{"a":1}'), 400, 'arguments not an array: 400')
  t.equal(await post({ 'x-megaphone-ctl': ej.cookie }, '[1]'), 400, 'an argument not a string: 400')
  t.equal(await post({ 'x-megaphone-ctl': ej.cookie }, '', 'GET'), 405, 'GET: 405')
  t.equal(await post({ 'x-megaphone-ctl': ej.cookie }, '[]'), 200, 'the cookie and an array: 200')
})

t.test('eval evaluates Erlang; readLog returns the log and waitFor gives up with the reason', async t => {
  t.equal(await evalErlang('1 + 1.'), '2')
  t.match(await ej.readLog(), /is started in the node/)
  await t.rejects(waitFor(() => false, 100, 'nothing'), /timed out after 100 ms waiting for nothing/)
})
