// scripts/bosh/*.sh, the operator's curl-only check scripts, run as an operator
// runs them: against Megaphone's /http-bind, and once against ejabberd's own
// mod_bosh to show they are plain XEP-0124/XEP-0206 clients.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { createServer as createHttpServer, type ServerResponse } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Element } from '../../lib/xml.js'
import type { Upstream } from '../../lib/bosh/session.js'
import { PROJECT_ROOT, registerUsers, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { LinkXmppClient } from '../helpers/link-xmpp-client.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkBodiesAgainstSchema, recordBody } from '../helpers/bosh-http.js'

const ej = testEjabberd()
const PASSWORD = 'curl-pw'
const SCRIPTS = join(PROJECT_ROOT, 'scripts/bosh')
/** Every script bounds each step to 30 s; a run that hangs fails the test instead. */
const RUN_TIMEOUT_MS = 45_000
/** A payload that needs XML escaping and is not ASCII. */
const TEXT = 'héllo → 世界 🎉 &< > "q" \'a\' &amp; ]]>'

interface Run { code: number | null, stdout: string, stderr: string, ms: number }

/** Runs scripts/bosh/SCRIPT with ARGS (and INPUT on stdin); resolves whatever the exit status. */
async function run (script: string, args: readonly string[], timeoutMs = RUN_TIMEOUT_MS, input = '', extraEnv: Record<string, string> = {}): Promise<Run> {
  const started = Date.now()
  // Loopback must not go through a proxy the environment may name.
  const env = { ...process.env, no_proxy: '*', NO_PROXY: '*', ...extraEnv }
  return await new Promise((resolve) => {
    const child = execFile('bash', [join(SCRIPTS, script), ...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr: err?.killed === true ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr, ms: Date.now() - started })
    })
    // A script that exits without reading stdin (-h, a bad option) closes the pipe first: not an error.
    child.stdin?.on('error', () => {})
    child.stdin?.end(input)
  })
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}

/** The rids of the requests a -v run sent, in order. */
function ridsSent (stderr: string): number[] {
  return stderr.split('\n').filter((l) => l.startsWith('>>> ')).map((l) => Number(/ rid='(\d+)'/.exec(l)?.[1]))
}

/** The "ok" lines of a login, presence, message and logout, in order. */
const STEPS = [
  'session created sid=',
  'stream features: SASL PLAIN offered',
  'authenticated as ',
  'stream restarted',
  'bound ',
  'presence sent',
  'message sent to ',
  'logged out '
]

function checkSteps (t: Test, stderr: string): void {
  const at = STEPS.map((step) => stderr.indexOf(`ok  ${step}`))
  t.ok(at.every((i, n) => i !== -1 && (n === 0 || i > at[n - 1]!)), 'every step reports ok, in order', { stderr })
  t.notMatch(stderr, /^FAIL/m, 'no step fails')
}

/** A receiver logged in over Megaphone's link; logged out when the test ends. */
async function receiver (t: Test, link: Upstream, user: string): Promise<LinkXmppClient> {
  const client = new LinkXmppClient(link)
  await client.login(user, PASSWORD, ej.domain)
  t.teardown(async () => { if (client.closedReason === null) await client.logout() })
  return client
}

const fromUser = (user: string) => (el: Element): boolean => el.name === 'message' && el.attrs.from?.startsWith(`${user}@`) === true

t.test('check.sh logs in, sends one message that arrives exactly once, byte for byte, and logs out (XEP-0206)', async (t) => {
  const mp = await startMegaphone(t)
  const [sender] = await registerUsers('cs1s', 1, PASSWORD) as [string]
  const [peer] = await registerUsers('cs1r', 1, PASSWORD) as [string]
  const bob = await receiver(t, mp.link, peer)

  const r = await run('check.sh', ['-u', mp.boshUrl, '-d', ej.domain, sender, PASSWORD, `${peer}@${ej.domain}`, TEXT])
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr })
  checkSteps(t, r.stderr)
  t.match(r.stdout, new RegExp(`^bosh check passed: logged in as ${sender}@${ej.domain}/\\S+, sent 1 message to ${peer}@${ej.domain}, logged out\\n$`), 'ends with the one-line verdict on stdout')

  const got = await bob.wait(fromUser(sender), 10_000, 'the message')
  t.equal(got.getChildText('body'), TEXT, 'the body arrives exactly as given')
  t.equal(got.attrs.type, 'chat', 'a chat message')
  // The script waited for the server to answer a ping sent after the message,
  // so any second copy was already queued for bob's session; bob's own ping
  // round trip, answered after that queue, is the barrier.
  bob.send(`<iq xmlns='jabber:client' type='get' id='barrier' to='${ej.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`)
  await bob.wait((el) => el.name === 'iq' && el.attrs.id === 'barrier', 10_000, "bob's ping answer")
  t.equal(bob.inbox.filter(fromUser(sender)).length, 0, 'exactly once')

  await waitFor(async () => (await sessionsWithPrefix('cs1s')) === 0, 10_000, "the sender's session to end in ejabberd")
  await waitFor(() => mp.link.sessionCount === 1, 10_000, "the sender's connection to close on the link")
  t.pass('the sender has no session left; the receiver still has hers')
})

t.test('check.sh with no recipient sends to itself and gets the message back; every rid is the previous plus 1 (XEP-0124 14.1)', async (t) => {
  const mp = await startMegaphone(t)
  const [user] = await registerUsers('cs2s', 1, PASSWORD) as [string]
  const r = await run('check.sh', ['-v', '-u', mp.boshUrl, '-r', 'curl check', user, PASSWORD, '', TEXT])
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr })
  t.match(r.stderr, /^ok {2}message msg_\d+ came back intact$/m, 'the message came back and was compared')
  t.match(r.stdout, new RegExp(`^bosh check passed: logged in as ${user}@${ej.domain}/curl check, sent 1 message to itself and received it, logged out\\n$`), 'the verdict')
  const rids = ridsSent(r.stderr)
  t.ok(rids.length >= 7, `${rids.length} requests`)
  t.ok(rids.every((rid, i) => Number.isSafeInteger(rid) && (i === 0 || rid === rids[i - 1]! + 1)), 'consecutive rids', { rids })
  t.notOk(r.stderr.includes(Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')), '-v hides the SASL token')
  t.match(r.stderr, /<auth [^>]*>\(token hidden\)<\/auth>/, '-v shows where the token was')
  // The bodies curl received from Megaphone, for the schema check at the end.
  const bodies = [...r.stderr.matchAll(/^<<< HTTP 200 (<body.*)$/gm)].map((m) => m[1] as string)
  t.ok(bodies.length >= 7, `${bodies.length} response bodies traced`)
  for (const b of bodies) recordBody(b)
  await waitFor(async () => (await sessionsWithPrefix('cs2s')) === 0, 10_000, 'the session to end')
})

t.test('check.sh passes against ejabberd\'s own mod_bosh too: the scripts are generic BOSH clients (password from stdin)', async (t) => {
  const [user] = await registerUsers('cs3s', 1, PASSWORD) as [string]
  const r = await run('check.sh', ['-u', ej.boshUrl, `${user}@${ej.domain}`, '-'], RUN_TIMEOUT_MS, `${PASSWORD}\n`)
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr })
  checkSteps(t, r.stderr)
  t.match(r.stdout, /^bosh check passed: .* sent 1 message to itself and received it, logged out\n$/, 'the verdict')
  await waitFor(async () => (await sessionsWithPrefix('cs3s')) === 0, 10_000, 'the session to end')
})

t.test('login.sh, send.sh and logout.sh: one session across three commands', async (t) => {
  const mp = await startMegaphone(t)
  const [sender] = await registerUsers('cs4s', 1, PASSWORD) as [string]
  const [peer] = await registerUsers('cs4r', 1, PASSWORD) as [string]
  const bob = await receiver(t, mp.link, peer)

  const login = await run('login.sh', ['-u', mp.boshUrl, sender, PASSWORD])
  t.equal(login.code, 0, 'login exit 0', { stderr: login.stderr })
  const [sid, rid, jid, ...rest] = login.stdout.trim().split(' ')
  t.match(sid, /^\S+$/, 'SID')
  t.match(rid, /^\d+$/, 'RID')
  t.match(jid, new RegExp(`^${sender}@${ej.domain}/`), 'JID')
  t.same(rest, [], 'nothing else on stdout')
  t.equal(await sessionsWithPrefix('cs4s'), 1, 'logged in')

  const send = await run('send.sh', ['-u', mp.boshUrl, sid!, rid!, peer, TEXT])
  t.equal(send.code, 0, 'send exit 0', { stderr: send.stderr })
  t.equal(send.stdout, `${Number(rid) + 1}\n`, 'send.sh prints the next rid')
  const got = await bob.wait(fromUser(sender), 10_000, 'the message')
  t.equal(got.getChildText('body'), TEXT, 'the body arrives exactly as given')
  t.equal(got.attrs.from, jid, 'from the session login.sh made')

  const logout = await run('logout.sh', ['-u', mp.boshUrl, sid!, send.stdout.trim()])
  t.equal(logout.code, 0, 'logout exit 0', { stderr: logout.stderr })
  t.match(logout.stderr, /^ok {2}logged out /m, 'reports the logout')
  await waitFor(async () => (await sessionsWithPrefix('cs4s')) === 0, 10_000, 'the session to end')

  const again = await run('logout.sh', ['-u', mp.boshUrl, sid!, String(Number(send.stdout) + 1)])
  t.equal(again.code, 1, 'a second logout fails')
  t.match(again.stderr, /^FAIL logout: .*item-not-found/m, 'with item-not-found')
})

t.test('a wrong password: exit 1 naming the SASL step and not-authorized; the session is terminated', async (t) => {
  const mp = await startMegaphone(t)
  const [user] = await registerUsers('cs5s', 1, PASSWORD) as [string]
  const r = await run('check.sh', ['-u', mp.boshUrl, user, 'not-the-password'])
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.match(r.stderr, /^FAIL sasl: authentication as cs5s1 failed: not-authorized/m, 'names the step and the SASL condition')
  t.match(r.stderr, /^ {5}terminating session \S+$/m, 'says it terminates the session')
  t.equal(r.stdout, '', 'no success line')
  await waitFor(() => mp.link.sessionCount === 0, 10_000, 'the session to be terminated')
  t.pass('no session left on the link')
})

t.test('an unreachable endpoint fails fast with the URL in the message', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}/http-bind`
  const r = await run('check.sh', ['-u', url, 'nobody', 'pw'], 10_000)
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.equal(r.stderr, `FAIL create session: could not connect to ${url} (connection refused or host unreachable)\n`, 'one line naming the step and the URL')
  t.ok(r.ms < 5_000, `failed in ${r.ms} ms`)
})

t.test('an HTTP error names the status and what came with it', async (t) => {
  const mp = await startMegaphone(t)
  const r = await run('check.sh', ['-u', `${mp.baseUrl}/no-such-path`, 'nobody', 'pw'])
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.match(r.stderr, /^FAIL create session: HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/no-such-path: /m, 'the step, the status, the URL')
})

t.test('a domain the server does not serve: the creation is refused with host-unknown (XEP-0124 17.2)', async (t) => {
  const mp = await startMegaphone(t)
  const r = await run('check.sh', ['-u', mp.boshUrl, '-d', 'elsewhere.example', 'nobody', 'pw'])
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.match(r.stderr, /^FAIL create session: refused: condition=host-unknown/m, 'the step and the condition')
})

t.test('-h prints usage and exits 0; a bad command line exits 2', async (t) => {
  for (const script of ['check.sh', 'login.sh', 'send.sh', 'logout.sh']) {
    const help = await run(script, ['-h'], 10_000)
    t.equal(help.code, 0, `${script} -h: exit 0`)
    t.match(help.stdout, new RegExp(`^Usage: scripts/bosh/${script.replace('.', '\\.')} \\[OPTIONS\\] `), `${script} -h: usage`)
    t.equal(help.stderr, '', `${script} -h: nothing on stderr`)
    const bad = await run(script, ['-Z'], 10_000)
    t.equal(bad.code, 2, `${script} -Z: exit 2`)
    t.match(bad.stderr, /unknown option -Z \(see .* -h\)/, `${script} -Z: says so`)
  }
  const missing = await run('check.sh', ['only-a-user'], 10_000)
  t.equal(missing.code, 2, 'a missing PASSWORD: exit 2')
  t.match(missing.stderr, /expected USER PASSWORD/, 'says what is expected')
})

// Paths neither ejabberd nor Megaphone takes, from a scripted server: each
// request gets the next answer of a list.

interface Scripted { url: string, requests: string[] }
type Answer = (request: string) => string | null

const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'

/** An HTTP server answering the Nth POST with answers[N] (null: never answer). */
async function scriptedServer (t: Test, answers: Answer[]): Promise<Scripted> {
  const requests: string[] = []
  const held = new Set<ServerResponse>()
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const answer = answers[requests.length]
      requests.push(text)
      const body = answer === undefined ? `<body xmlns='${NS_HTTPBIND}' type='terminate' condition='undefined-condition'/>` : answer(text)
      if (body === null) { held.add(res); return }
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const res of held) res.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bind`, requests }
}

const idIn = (request: string, prefix: string): string => new RegExp(`id='(${prefix}[^']*)'`).exec(request)?.[1] ?? 'missing'

t.test('a pre-RFC 6120 style server: features only in a later poll, double quotes, an XML declaration, a required session iq', async (t) => {
  const wrap = (payload = '', attrs = ''): string => `<?xml version="1.0" encoding="utf-8"?>\n<body xmlns="${NS_HTTPBIND}" xmlns:stream="http://etherx.jabber.org/streams"${attrs}>${payload}</body>`
  const server = await scriptedServer(t, [
    () => wrap('', ' sid="s&amp;1" wait="3" hold="1" requests="2" inactivity="30"'),
    () => wrap('<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>'),
    () => wrap('<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>'),
    () => wrap(),
    () => wrap('<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></stream:features>'),
    (r) => wrap(`<iq type="result" id="${idIn(r, 'bind')}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>alice@example.com/a&amp;b</jid></bind></iq>`),
    (r) => wrap(`<iq type="result" id="${idIn(r, 'sess')}"/>`),
    () => wrap(),
    () => wrap(`<iq type="result" id="${idIn(server.requests[7]!, 'ping')}"/>`),
    (r) => wrap(`<iq type="error" id="${idIn(r, 'ping')}"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`),
    () => wrap('', ' type="terminate"')
  ])
  const r = await run('check.sh', ['-u', server.url, 'alice@example.com', 'pw', 'bob', '<&>'])
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr })
  t.match(r.stderr, /^ok {2}session created sid=s&1 wait=3 hold=1 requests=2 inactivity=30 /m, 'attributes unescaped')
  t.match(r.stderr, /^ok {2}session established$/m, 'the session iq, as the feature is not optional')
  t.match(r.stdout, /^bosh check passed: logged in as alice@example\.com\/a&b, sent 1 message to bob@example\.com, logged out\n$/, 'the verdict, with the JID unescaped')

  const [create, poll, auth, restart] = server.requests as [string, string, string, string]
  t.match(create, /^<body xmlns='http:\/\/jabber\.org\/protocol\/httpbind' rid='\d+' to='example\.com' xml:lang='en' wait='10' hold='1' ver='1\.6' xmpp:version='1\.0' xmlns:xmpp='urn:xmpp:xbosh'\/>$/, 'XEP-0206 creation, domain from the user')
  t.match(poll, /^<body [^>]* sid='s&amp;1'\/>$/, 'an empty poll for the features')
  t.match(auth, `mechanism='PLAIN'>${Buffer.from('\0alice\0pw').toString('base64')}</auth>`, 'SASL PLAIN of NUL user NUL password')
  t.match(restart, / to='example\.com' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'\/>$/, 'XEP-0206 restart')
  t.match(server.requests[9], /<message [^>]*to='bob@example\.com'><body>&lt;&amp;&gt;<\/body><\/message>/, 'the message, escaped')
  t.match(server.requests[10], /type='terminate'><presence xmlns='jabber:client' type='unavailable'\/><\/body>$/, 'terminate with unavailable presence')
  const rids = server.requests.map((q) => Number(/ rid='(\d+)'/.exec(q)?.[1]))
  t.ok(rids.every((rid, i) => i === 0 || rid === rids[i - 1]! + 1), 'consecutive rids', { rids })
})

t.test('a session the server ends with a stream error: the step, the condition and the stream error; no terminate sent back', async (t) => {
  const server = await scriptedServer(t, [
    () => `<body xmlns='${NS_HTTPBIND}' sid='s2' wait='5' hold='1'><stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features></body>`,
    () => `<body xmlns='${NS_HTTPBIND}' type='terminate' condition='remote-stream-error'><stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>`
  ])
  const r = await run('check.sh', ['-u', server.url, 'alice', 'pw'])
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.match(r.stderr, /^FAIL sasl: the server terminated the session: condition=remote-stream-error \(stream error: conflict\)$/m, 'the step, the condition, the stream error')
  t.equal(server.requests.length, 2, 'nothing after the server ended the session')
})

t.test('a server that never answers: the request times out at wait + the slack (10 s, set to 1 here) with a clear message', async (t) => {
  // The default, read from lib.sh as the scripts source it, with nothing set.
  const { BOSH_SLACK_SECONDS: _, ...unset } = process.env
  const defaults = await new Promise<string>((resolve, reject) => {
    execFile('bash', ['-c', 'source "$0" && printf "%s %s" "$BOSH_DEFAULT_WAIT" "$BOSH_SLACK_SECONDS"', join(SCRIPTS, 'lib.sh')], { env: unset, timeout: 10_000 },
      (err, stdout) => { if (err === null) resolve(stdout); else reject(err) })
  })
  t.equal(defaults, '10 10', 'by default a request may take wait (10 s) + 10 s')
  const server = await scriptedServer(t, [() => null])
  const r = await run('check.sh', ['-w', '1', '-u', server.url, 'alice', 'pw'], 30_000, '', { BOSH_SLACK_SECONDS: '1' })
  t.equal(r.code, 1, 'exit 1', { stderr: r.stderr })
  t.match(r.stderr, new RegExp(`^FAIL create session: no answer from ${server.url} within 2s$`, 'm'), 'the step, the URL, the time allowed')
  t.ok(r.ms >= 2_000 && r.ms < 16_000, `gave up after ${r.ms} ms`)
  const bad = await run('check.sh', ['-u', server.url, 'alice', 'pw'], 10_000, '', { BOSH_SLACK_SECONDS: 'soon' })
  t.equal(bad.code, 2, 'a slack that is not a number: exit 2')
  t.match(bad.stderr, /BOSH_SLACK_SECONDS must be a number of seconds/, 'says so')
})

checkBodiesAgainstSchema(t)
