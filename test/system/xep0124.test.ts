// XEP-0124 (BOSH) through Megaphone to the real ejabberd, over real HTTP:
// one test per behaviour, named after its section. Every body received is
// validated against the XEP's schema when the file ends.
import t from 'tap'
import { request } from 'undici'
import { once } from 'node:events'
import { connect } from 'node:net'
import { BoshClient, body, checkBodiesAgainstSchema, parseBody, postBody, recordBody } from '../helpers/bosh-http.js'
import { registerUsers, sessionsWithPrefix, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()
const PASSWORD = 'xep124-pw'

function creation (rid: number, extra: Record<string, string | number | undefined> = {}): string {
  return body({ rid, to: ej.domain, wait: 10, hold: 1, ver: '1.6', 'xmpp:version': '1.0', ...extra })
}

async function loggedIn (url: string, prefix: string, count = 1, opts: { wait?: number, ack?: boolean } = {}): Promise<BoshClient[]> {
  const users = await registerUsers(prefix, count, PASSWORD)
  return await Promise.all(users.map(async (user) => {
    const c = new BoshClient(url, { domain: ej.domain, ...opts })
    await c.login(user, PASSWORD)
    return c
  }))
}

t.test('7.1, 7.2: the creation response carries sid, wait, requests, hold, inactivity, polling, ver, from, authid, ack and the features', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '30' } })
  const el = parseBody(await postBody(mp.boshUrl, creation(500, { wait: 300, hold: 1, ack: 1, route: 'xmpp:other.example:5222', 'xml:lang': 'en' })))
  t.match(el.attrs.sid, /^[0-9a-f]{32}$/, 'sid: 128 bits, hex')
  t.equal(el.attrs.wait, '30', 'wait: no more than the configured maximum')
  t.equal(el.attrs.hold, '1')
  t.equal(el.attrs.requests, '2', 'requests = hold + 1')
  t.equal(el.attrs.inactivity, '60')
  t.equal(el.attrs.polling, '2')
  t.equal(el.attrs.ver, '1.6')
  t.equal(el.attrs.from, ej.domain)
  t.match(el.attrs.authid, /^\S+$/, 'authid: the stream id')
  t.equal(el.attrs.ack, '500', 'ack: the creation rid, as the client asked for acks')
  t.ok(el.getChild('features')?.getChild('mechanisms'), 'stream features in the creation response')
  const second = parseBody(await postBody(mp.boshUrl, creation(900)))
  t.not(second.attrs.sid, el.attrs.sid, 'every session its own sid')
  t.equal(second.attrs.ack, undefined, 'no ack when not asked for')
})

t.test('7.1: a session for a domain Megaphone does not serve gets host-unknown (never an open proxy)', async (t) => {
  const mp = await startMegaphone(t)
  const el = parseBody(await postBody(mp.boshUrl, body({ rid: 1, to: 'jabber.org', wait: 10, hold: 1 })))
  t.equal(el.attrs.type, 'terminate')
  t.equal(el.attrs.condition, 'host-unknown')
  t.equal(mp.link.sessionCount, 0, 'nothing opened on the link')
})

t.test('8: a held request is answered at wait with an empty body', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '1' } })
  const [c] = await loggedIn(mp.boshUrl, 'x8w') as [BoshClient]
  t.equal(c.opts.wait, 10)
  const started = Date.now()
  const el = await c.request()
  const elapsed = Date.now() - started
  t.equal(el.children.length, 0, 'empty body')
  t.ok(elapsed >= 900 && elapsed < 5000, `answered after the granted wait of 1 s (${elapsed} ms)`)
  await c.terminate()
})

t.test('8: a new request releases the oldest held one at once', async (t) => {
  const mp = await startMegaphone(t)
  const [c] = await loggedIn(mp.boshUrl, 'x8h') as [BoshClient]
  const first = c.request()
  await waitFor(async () => mp.app.bosh.get(c.sid)?.heldCount === 1, 10_000, 'first request held')
  const started = Date.now()
  const second = c.request()
  await first
  t.ok(Date.now() - started < 2000, 'the first came back as soon as the second arrived')
  t.equal(mp.app.bosh.get(c.sid)?.heldCount, 1, 'the second is held')
  await c.terminate()
  await second
})

t.test('8: anything from ejabberd reaches the held request at once, not at wait', async (t) => {
  const mp = await startMegaphone(t)
  const [alice, bob] = await loggedIn(mp.boshUrl, 'x8d', 2, { wait: 60 }) as [BoshClient, BoshClient]
  const held = bob.request()
  await waitFor(async () => mp.app.bosh.get(bob.sid)?.heldCount === 1, 10_000, 'bob holding a request')
  const started = Date.now()
  // Alice holds nothing else, so her own request stays held until her terminate.
  const sent = alice.send(`<message xmlns='jabber:client' to='${bob.jid}' type='chat'><body>now</body></message>`)
  const el = await held
  t.ok(Date.now() - started < 3000, `delivered in ${Date.now() - started} ms, not after wait (60 s)`)
  t.equal(el.getChild('message')?.getChildText('body'), 'now')
  await Promise.all([alice.terminate(), bob.terminate(), sent])
})

t.test('9: with acks, an answer to an older rid acknowledges the highest rid received', async (t) => {
  const mp = await startMegaphone(t)
  const [c] = await loggedIn(mp.boshUrl, 'x9a', 1, { ack: true }) as [BoshClient]
  const first = c.request('', { ack: c.rid })
  await waitFor(async () => mp.app.bosh.get(c.sid)?.heldCount === 1, 10_000, 'held')
  const second = c.request('', { ack: c.rid - 1 })
  const el = await first
  t.equal(el.attrs.ack, String(c.rid), 'ack names the newer request')
  await c.terminate()
  await second
})

t.test('10: with no request open past inactivity, the session and its ejabberd session end', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_INACTIVITY_SECONDS: '1' } })
  const prefix = 'x10i'
  const [c] = await loggedIn(mp.boshUrl, prefix) as [BoshClient]
  t.equal(c.terminated, null)
  await waitFor(async () => mp.app.bosh.size === 0, 10_000, 'Megaphone ended the session')
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 10_000, 'ejabberd ended the session')
  const el = await c.request()
  t.equal(el.attrs.condition, 'item-not-found', 'a later request finds no session')
})

t.test('13: terminate forwards its payload, closes the stream, and later requests get item-not-found', async (t) => {
  const mp = await startMegaphone(t)
  const prefix = 'x13t'
  const [alice, bob] = await loggedIn(mp.boshUrl, prefix, 2) as [BoshClient, BoshClient]
  bob.startPolling()
  const el = await alice.terminate(`<message xmlns='jabber:client' to='${bob.jid}' type='chat'><body>bye</body></message>`)
  t.equal(el.attrs.type, 'terminate')
  t.equal(el.attrs.condition, undefined, 'a normal end')
  const msg = await bob.until((m) => m.is('message'), 'the message sent with terminate')
  t.equal(msg.getChildText('body'), 'bye')
  // ejabberd closes the stream and ends alice's connection ID itself, well before Megaphone's 10 s fallback.
  await waitFor(() => mp.link.sessionCount === 1, 3_000, 'ejabberd to end alice\'s connection ID')
  await waitFor(async () => await sessionsWithPrefix(`${prefix}1`) === 0, 10_000, 'alice gone from ejabberd')
  t.equal((await alice.request()).attrs.condition, 'item-not-found')
  await bob.terminate()
})

t.test('14.2: requests arriving out of rid order are forwarded and answered in rid order', async (t) => {
  const mp = await startMegaphone(t)
  const [alice, bob] = await loggedIn(mp.boshUrl, 'x142', 2) as [BoshClient, BoshClient]
  bob.startPolling()
  const n = alice.rid
  const msg = (text: string): string => `<message xmlns='jabber:client' to='${bob.jid}' type='chat'><body>${text}</body></message>`
  const answers: number[] = []
  const later = postBody(alice.url, body({ rid: n + 2, sid: alice.sid }, msg('second'))).then((a) => { answers.push(n + 2); return a })
  await waitFor(async () => mp.app.bosh.get(alice.sid)?.queuedCount === 1, 10_000, 'rid n+2 queued')
  const earlier = postBody(alice.url, body({ rid: n + 1, sid: alice.sid }, msg('first'))).then((a) => { answers.push(n + 1); return a })
  alice.rid = n + 2
  await earlier
  await bob.until(() => bob.inbox.filter((m) => m.is('message')).length === 2, 'both messages')
  t.same(bob.inbox.filter((m) => m.is('message')).map((m) => m.getChildText('body')), ['first', 'second'], 'in rid order')
  const end = alice.terminate()
  await later
  t.same(answers, [n + 1, n + 2], 'answered in rid order')
  await end
  await bob.terminate()
})

t.test('14.3: a repeated rid gets its buffered response again, byte for byte', async (t) => {
  const mp = await startMegaphone(t)
  const [alice, bob] = await loggedIn(mp.boshUrl, 'x143', 2) as [BoshClient, BoshClient]
  const rid = bob.rid + 1
  const held = postBody(bob.url, body({ rid, sid: bob.sid }))
  bob.rid = rid
  await waitFor(async () => mp.app.bosh.get(bob.sid)?.heldCount === 1, 10_000, 'held')
  const sent = alice.send(`<message xmlns='jabber:client' to='${bob.jid}'><body>once</body></message>`)
  const first = await held
  t.match(first.text, /once/)
  const again = await postBody(bob.url, body({ rid, sid: bob.sid }))
  t.equal(again.text, first.text, 'identical bytes')
  await Promise.all([alice.terminate(), bob.terminate(), sent])
})

t.test('14.2: a rid beyond the window and the rid slack terminates the session with item-not-found', async (t) => {
  const mp = await startMegaphone(t)
  const prefix = 'x14w'
  const [c] = await loggedIn(mp.boshUrl, prefix) as [BoshClient]
  // requests=2 and the default slack of 2 (bosh.ridSlack): c.rid + 4 would be queued.
  const el = parseBody(await postBody(c.url, body({ rid: c.rid + 5, sid: c.sid })))
  t.equal(el.attrs.condition, 'item-not-found')
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 10_000, 'ejabberd session ended')
})

t.test('17.2: an unknown sid gets item-not-found', async (t) => {
  const mp = await startMegaphone(t)
  const el = parseBody(await postBody(mp.boshUrl, body({ rid: 7, sid: 'f'.repeat(32) })))
  t.equal(el.attrs.condition, 'item-not-found')
})

t.test('17.2: malformed XML, a root other than body, a missing rid and a DOCTYPE each get bad-request', async (t) => {
  const mp = await startMegaphone(t)
  const NS = "xmlns='http://jabber.org/protocol/httpbind'"
  const bad: Array<[string, string | Buffer]> = [
    ['malformed XML', `<body ${NS} rid='1' to='${ej.domain}'><presence></body>`],
    ['a root other than body', `<iq ${NS} rid='1'/>`],
    ['body outside the httpbind namespace', `<body xmlns='jabber:client' rid='1' to='${ej.domain}'/>`],
    ['a missing rid', `<body ${NS} to='${ej.domain}' wait='10' hold='1'/>`],
    ['a DOCTYPE with an entity declaration', `<!DOCTYPE body [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><body ${NS} rid='1' to='${ej.domain}'>&b;</body>`],
    ['an empty request', ''],
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from(`<body ${NS} rid='1' to='`), Buffer.from([0xff, 0xfe]), Buffer.from("'/>")])]
  ]
  for (const [what, text] of bad) {
    const answer = await postBody(mp.boshUrl, text)
    const el = parseBody(answer)
    t.equal(el.attrs.condition, 'bad-request', what)
  }
  t.equal(mp.link.sessionCount, 0, 'nothing reached ejabberd')
})

t.test('17.2: each refusal is logged with its condition, reason and the client\'s address, and the process keeps serving', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const mp = await startMegaphone(t, { logLines: lines })
  const NS = "xmlns='http://jabber.org/protocol/httpbind'"
  await postBody(mp.boshUrl, `<body ${NS} rid='1'><unclosed></body>`)
  await postBody(mp.boshUrl, body({ rid: 1, to: 'jabber.org', wait: 10, hold: 1 }))
  const refusals = lines.filter((l) => l.msg === 'bosh request refused' || l.msg === 'bosh session refused')
  t.match(refusals, [
    { level: 40, condition: 'bad-request', reason: 'malformed XML', code: 'MEGAPHONE_ERR_BOSH_MALFORMED_XML', ip: '127.0.0.1' },
    { level: 40, condition: 'host-unknown', reason: 'domain not served', code: 'MEGAPHONE_ERR_BOSH_HOST_UNKNOWN', ip: '127.0.0.1' }
  ])
  const el = parseBody(await postBody(mp.boshUrl, creation(5)))
  t.ok(el.attrs.sid, 'still serving')
})

t.test('17.1: a body over the limit gets 413 and everyone else is still served', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_MAX_BODY_BYTES: '4096' } })
  const [alice, bob] = await loggedIn(mp.boshUrl, 'x171', 2) as [BoshClient, BoshClient]
  const big = `<message xmlns='jabber:client' to='${bob.jid}'><body>${'x'.repeat(8192)}</body></message>`
  const answer = await postBody(mp.boshUrl, body({ rid: alice.rid + 1, sid: alice.sid }, big))
  t.equal(answer.status, 413)
  t.match(answer.text, /over 4096 bytes/)
  bob.startPolling()
  // The refused request never reached the session, so alice's next rid is the one it would have had.
  const sent = alice.send(`<message xmlns='jabber:client' to='${bob.jid}'><body>small</body></message>`)
  const msg = await bob.until((m) => m.is('message'), 'the small message')
  t.equal(msg.getChildText('body'), 'small')
  await Promise.all([alice.terminate(), bob.terminate(), sent])
})

t.test('17.1: a client that sent no ver (older than 1.6) gets HTTP 400, 403 and 404 in place of those conditions; the others and 1.6 clients get terminate bodies', async (t) => {
  const mp = await startMegaphone(t)
  const legacy = (rid: number, extra: Record<string, string | number | undefined> = {}): string => creation(rid, { ver: undefined, ...extra })

  // bad-request: a creation request without wait.
  const noWait = await postBody(mp.boshUrl, legacy(10, { wait: undefined }))
  t.same([noWait.status, noWait.text], [400, ''], 'bad-request is 400, with an empty body')
  const noWait16 = await postBody(mp.boshUrl, creation(10, { wait: undefined }))
  t.same([noWait16.status, parseBody(noWait16).attrs.condition], [200, 'bad-request'], 'a 1.6 client gets the terminate body')

  // item-not-found: a rid beyond the window of a legacy session.
  const created = parseBody(await postBody(mp.boshUrl, legacy(100)))
  t.equal(created.attrs.type, undefined, 'the session is created as for anyone')
  const sid = created.attrs.sid as string
  const beyond = await postBody(mp.boshUrl, body({ rid: 100 + 9, sid }))
  t.same([beyond.status, beyond.text], [404, ''], 'item-not-found is 404')
  const after = await postBody(mp.boshUrl, body({ rid: 101, sid }))
  t.equal(after.status, 200, 'the session is gone; an unknown sid has no version to go by, so it gets the terminate body')
  t.equal(parseBody(after).attrs.condition, 'item-not-found')

  // policy-violation: a polling session (hold 0) that polls faster than `polling`.
  const polling = parseBody(await postBody(mp.boshUrl, legacy(200, { hold: 0 })))
  const psid = polling.attrs.sid as string
  t.equal((await postBody(mp.boshUrl, body({ rid: 201, sid: psid }))).status, 200, 'one empty poll')
  const tooSoon = await postBody(mp.boshUrl, body({ rid: 202, sid: psid }))
  t.same([tooSoon.status, tooSoon.text], [403, ''], 'policy-violation (polling too often) is 403')

  // Conditions with no HTTP code of their own stay terminate bodies.
  const unknownHost = await postBody(mp.boshUrl, legacy(300, { to: 'jabber.org' }))
  t.same([unknownHost.status, parseBody(unknownHost).attrs.condition], [200, 'host-unknown'], 'host-unknown is a terminate body even for a legacy client')
  await waitFor(() => mp.app.bosh.size === 0, 10_000, 'every session to end')
})

t.test('5: any request Content-Type is accepted, and an XML declaration before the body', async (t) => {
  const mp = await startMegaphone(t)
  const types = ['text/xml; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml', null]
  let rid = 100
  for (const contentType of types) {
    const el = parseBody(await postBody(mp.boshUrl, `<?xml version='1.0' encoding='UTF-8'?>\n${creation(rid++)}`, { contentType }))
    t.ok(el.attrs.sid !== undefined, `Content-Type ${contentType ?? '(none)'} accepted`)
  }
})

t.test('5: a Content-Type header that is present but empty, or not a media type, is read as none', async (t) => {
  const mp = await startMegaphone(t)
  let rid = 200
  for (const header of ['Content-Type:', 'Content-Type: ', 'Content-Type: garbage', 'Content-Type: ;']) {
    const answer = await rawPost(mp.boshUrl, header, creation(rid++))
    t.match(answer, /^HTTP\/1\.1 200 /, `${JSON.stringify(header)} gets 200, not 415`)
    t.match(answer, /<body [^>]*sid='[0-9a-f]{32}'/, `${JSON.stringify(header)}: a session is created`)
  }
})

t.test('5: the endpoint answers at /http-bind/ too, and every other route with a trailing slash', async (t) => {
  const mp = await startMegaphone(t)
  for (const path of ['/http-bind/', '/http-bind//']) {
    const el = parseBody(await postBody(mp.baseUrl + path, creation(300)))
    t.ok(el.attrs.sid !== undefined, `POST ${path} creates a session`)
  }
  for (const path of ['/health/', '/metrics/', '/client/chat.js/', '/http-bind/']) {
    const res = await request(mp.baseUrl + path, { method: path === '/http-bind/' ? 'OPTIONS' : 'GET', headers: { origin: 'https://chat.example.com' } })
    await res.body.text()
    t.ok(res.statusCode === 200 || res.statusCode === 204, `${path} is served (${res.statusCode})`)
  }
})

/** One POST on a fresh connection, headers written by hand; resolves to the whole answer (Connection: close ends it). */
async function rawPost (url: string, header: string, text: string): Promise<string> {
  const { hostname, port, pathname } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(`POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\n${header}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
  await once(socket, 'close')
  const answer = Buffer.concat(chunks).toString('utf8')
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
  if (body.startsWith('<body')) recordBody(body)
  return answer
}

t.test('5: every response has a Content-Length, is not chunked, and has the session\'s content type', async (t) => {
  const mp = await startMegaphone(t)
  const custom = await request(mp.boshUrl, { method: 'POST', body: creation(1, { content: 'text/plain; charset=utf-8' }) })
  const text = await custom.body.text()
  t.equal(custom.headers['content-type'], 'text/plain; charset=utf-8', 'the content attribute')
  t.equal(custom.headers['content-length'], String(Buffer.byteLength(text)))
  t.equal(custom.headers['transfer-encoding'], undefined)
  const sid = parseBody({ status: 200, text }).attrs.sid
  const next = await request(mp.boshUrl, { method: 'POST', body: body({ rid: 2, sid }, "<presence xmlns='jabber:client'/>") })
  await next.body.text()
  t.equal(next.headers['content-type'], 'text/plain; charset=utf-8', 'kept for the whole session')
  const plain = await request(mp.boshUrl, { method: 'POST', body: creation(9) })
  t.equal(plain.headers['content-type'], 'text/xml; charset=utf-8', 'the default')
  await plain.body.text()
  const refused = await request(mp.boshUrl, { method: 'POST', body: '<nope/>' })
  t.ok(refused.headers['content-length'] !== undefined && refused.headers['transfer-encoding'] === undefined, 'errors too')
  await refused.body.text()
})

t.test('5: CORS preflight is answered for the configured origins only', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_CORS_ORIGINS: 'https://chat.example.com' } })
  const ok = await request(mp.boshUrl, { method: 'OPTIONS', headers: { origin: 'https://chat.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  await ok.body.text()
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['access-control-allow-origin'], 'https://chat.example.com')
  t.match(String(ok.headers['access-control-allow-methods']), /POST/)
  t.match(String(ok.headers['access-control-allow-headers']), /Content-Type/i)
  const no = await request(mp.boshUrl, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  await no.body.text()
  t.equal(no.statusCode, 403)
  t.equal(no.headers['access-control-allow-origin'], undefined)
  const post = await request(mp.boshUrl, { method: 'POST', headers: { origin: 'https://chat.example.com' }, body: creation(3) })
  await post.body.text()
  t.equal(post.headers['access-control-allow-origin'], 'https://chat.example.com', 'and on the POST itself')
  const any = await startMegaphone(t)
  const star = await request(any.boshUrl, { method: 'OPTIONS', headers: { origin: 'https://anything.example', 'access-control-request-method': 'POST' } })
  await star.body.text()
  t.equal(star.headers['access-control-allow-origin'], '*', 'the default allows any origin')
})

t.test('5: a client that drops a held request\'s connection is noticed, and nothing for it is lost', async (t) => {
  const mp = await startMegaphone(t)
  const [alice, bob] = await loggedIn(mp.boshUrl, 'x5d', 2) as [BoshClient, BoshClient]
  const abort = new AbortController()
  const held = postBody(bob.url, body({ rid: ++bob.rid, sid: bob.sid }), { signal: abort.signal })
  await waitFor(async () => mp.app.bosh.get(bob.sid)?.heldCount === 1, 10_000, 'held')
  abort.abort()
  await held.catch(() => {})
  await waitFor(async () => mp.app.bosh.get(bob.sid)?.heldCount === 0, 10_000, 'Megaphone noticed the dropped connection')
  const sent = alice.send(`<message xmlns='jabber:client' to='${bob.jid}'><body>kept</body></message>`)
  await waitFor(async () => mp.app.bosh.get(alice.sid)?.heldCount === 1, 10_000, 'alice\'s message forwarded')
  const msg = await bob.until((m) => m.is('message'), 'the message, on the next request')
  t.equal(msg.getChildText('body'), 'kept')
  await Promise.all([alice.terminate(), bob.terminate(), sent])
})

t.test('17.2: shutting Megaphone down answers held requests with system-shutdown and ends the ejabberd sessions', async (t) => {
  const mp = await startMegaphone(t)
  const prefix = 'x17s'
  const [c] = await loggedIn(mp.boshUrl, prefix) as [BoshClient]
  const held = c.request()
  await waitFor(async () => mp.app.bosh.get(c.sid)?.heldCount === 1, 10_000, 'held')
  await mp.app.close()
  t.equal((await held).attrs.condition, 'system-shutdown')
  await waitFor(async () => await sessionsWithPrefix(prefix) === 0, 10_000, 'ejabberd session ended')
})

t.test('17.2: with bosh.seeOtherUri, shutting down answers held requests with see-other-uri and where to go', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_SEE_OTHER_URI: 'https://chat2.example.com/http-bind' } })
  const [c] = await loggedIn(mp.boshUrl, 'x17o') as [BoshClient]
  const held = c.request()
  await waitFor(async () => mp.app.bosh.get(c.sid)?.heldCount === 1, 10_000, 'held')
  await mp.app.close()
  const el = await held
  t.same([el.attrs.type, el.attrs.condition], ['terminate', 'see-other-uri'])
  t.equal(el.getChildText('uri'), 'https://chat2.example.com/http-bind', 'the <uri/> child names where to POST instead')
  await waitFor(async () => await sessionsWithPrefix('x17o') === 0, 10_000, 'ejabberd session ended')
})

t.test('shutting down does not wait for a connection that never sent a request (a browser\'s preconnect)', async (t) => {
  const mp = await startMegaphone(t)
  const { port } = new URL(mp.baseUrl)
  const silent = connect(Number(port), '127.0.0.1')
  await once(silent, 'connect')
  const closed = once(silent, 'close')
  const started = Date.now()
  // Without the fix this waits for Node's headersTimeout, 60 s.
  await mp.app.close()
  await closed
  t.ok(Date.now() - started < 10_000, `closed in ${Date.now() - started} ms, well before the 60 s headersTimeout`)
})

t.test('GET on the endpoint says what it is, with 405 and Allow', async (t) => {
  const mp = await startMegaphone(t)
  const res = await request(mp.boshUrl)
  t.equal(res.statusCode, 405)
  t.equal(res.headers.allow, 'POST, OPTIONS')
  t.match(await res.body.text(), /BOSH endpoint/)
})

checkBodiesAgainstSchema(t)
