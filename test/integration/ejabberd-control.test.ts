import t from 'tap'
import {
  connectedUsers,
  evalErlang,
  register,
  registerUsers,
  sessionsWithPrefix,
  testEjabberd,
  waitFor,
} from '../helpers/ejabberd.js'

t.test('the setup started the test ejabberd', async t => {
  const server = testEjabberd()
  t.match(server.node, /^megaphone-[0-9a-f]{8}@localhost$/)
  t.equal(server.host, '127.0.0.1')
  t.equal(server.boshUrl, `http://127.0.0.1:${server.httpPort}/http-bind`)
  t.equal(await evalErlang('lists:keymember(ejabberd, 1, application:which_applications()).'), 'true')
})

t.test('the link listener is configured with the secret', { skip: !testEjabberd().link && 'MEGAPHONE_EJABBERD_NO_LINK=1' }, async t => {
  const { linkPort, secret } = testEjabberd()
  t.match(secret, /^[0-9a-f]{64}$/)
  const listening = await evalErlang(
    `lists:any(fun({{P, _, _}, megaphone_listener, _}) -> P =:= ${linkPort}; (_) -> false end, ejabberd_option:listen()).`
  )
  t.equal(listening, 'true')
})

t.test('a registered user exists with its password', async t => {
  await register('smoke-alice', 'pw"\\é')
  const ok = await evalErlang(
    `ejabberd_auth:check_password(<<"smoke-alice">>, <<>>, <<"${testEjabberd().domain}">>, <<"pw\\"\\\\é"/utf8>>).`
  )
  t.equal(ok, 'true')
})

t.test('bulk registration creates every user; no sessions yet', async t => {
  const names = await registerUsers('smoke-bulk-', 50, 'pw')
  t.equal(names.length, 50)
  t.equal(names[49], 'smoke-bulk-50')
  t.equal(await evalErlang(`ejabberd_auth:user_exists(<<"smoke-bulk-50">>, <<"${testEjabberd().domain}">>).`), 'true')
  t.equal(await sessionsWithPrefix('smoke-bulk-'), 0)
  t.ok((await connectedUsers()) >= 0)
})

t.test('parallel control calls are safe', async t => {
  const counts = await Promise.all(Array.from({ length: 16 }, (_, i) => sessionsWithPrefix(`smoke-par-${i}-`)))
  t.same(counts, new Array(16).fill(0))
})

t.test('readLog returns the log and waitFor gives up with the reason', async t => {
  t.match(await testEjabberd().readLog(), /is started in the node/)
  await t.rejects(waitFor(() => false, 100, 'nothing'), /timed out after 100 ms waiting for nothing/)
})
