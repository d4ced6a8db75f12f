// Hostile and broken clients against one Megaphone while two users chat
// through it: junk bodies, truncated XML, entity bombs, deep nesting, huge
// attributes, aborted uploads, forged rids. Each gets its specific answer; the
// chat goes on, every message arrives once and in order, and the process,
// the link and the other sessions stay up.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { BoshClient, body, checkBodiesAgainstSchema, postBody } from '../helpers/bosh-http.js'
import { registerUsers, testEjabberd, waitFor } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()
const NS = "xmlns='http://jabber.org/protocol/httpbind'"

t.test('junk from many clients gets specific answers while a conversation goes on untouched', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_MAX_BODY_BYTES: '65536' } })
  const [aliceName, bobName] = await registerUsers('abuse', 2, 'abuse-pw') as [string, string]
  const alice = new BoshClient(mp.boshUrl, { domain: ej.domain })
  const bob = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await Promise.all([alice.login(aliceName, 'abuse-pw'), bob.login(bobName, 'abuse-pw')])
  alice.startPolling()
  bob.startPolling()

  const valid = body({ rid: 1, to: ej.domain, wait: 10, hold: 1, 'xmpp:version': '1.0' })
  const junk: Array<[string, string | Buffer, number | string]> = [
    ['random bytes', randomBytes(2048), 'bad-request'],
    ['a truncated body', valid.slice(0, valid.length - 5), 'bad-request'],
    ['a billion-laughs DOCTYPE', `<!DOCTYPE b [<!ENTITY a "aaaaaaaaaa">${Array.from({ length: 9 }, (_, i) => `<!ENTITY a${i + 1} "${`&a${i === 0 ? '' : i};`.repeat(10)}">`).join('')}]><body ${NS} rid='1'>&a9;</body>`, 'bad-request'],
    ['an external entity', `<!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]><body ${NS} rid='1'>&x;</body>`, 'bad-request'],
    ['2,000 levels of nesting', `<body ${NS} rid='1' to='${ej.domain}' wait='5' hold='1'>${'<a>'.repeat(2_000)}${'</a>'.repeat(2_000)}</body>`, 'bad-request'],
    ['a 60 KB attribute', `<body ${NS} rid='1' to='${'x'.repeat(60_000)}' wait='5' hold='1'/>`, 'host-unknown'],
    ['a body over the limit', `<body ${NS} rid='1'>${'y'.repeat(70_000)}</body>`, 413],
    ['a forged sid', body({ rid: 5, sid: 'a'.repeat(32) }), 'item-not-found'],
    ['a negative rid', `<body ${NS} rid='-4' to='${ej.domain}'/>`, 'bad-request'],
    ['a NUL character', `<body ${NS} rid='1'>\u0000</body>`, 'bad-request']
  ]
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all(junk.map(async ([what, text, expected]) => {
      const res = await postBody(mp.boshUrl, text)
      const got = res.status !== 200 ? res.status : (/condition='([\w-]+)'/.exec(res.text)?.[1] ?? `no condition: ${res.text.slice(0, 80)}`)
      return [what, got, expected] as const
    }))
    if (round === 0) for (const [what, got, expected] of answers) t.equal(got, expected, what)
  }

  // Uploads cut half way, and connections that send nothing.
  await Promise.all(Array.from({ length: 50 }, async (_, i) => await new Promise<void>((resolve) => {
    const port = Number(new URL(mp.boshUrl).port)
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<body ${NS} rid='${i + 1}'`)
      setImmediate(() => socket.destroy())
    })
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })))

  // The conversation was never disturbed.
  for (let i = 1; i <= 20; i++) await alice.send(`<message xmlns='jabber:client' to='${bob.jid}' type='chat'><body>n${i}</body></message>`)
  await bob.until(() => bob.inbox.filter((m) => m.is('message')).length >= 20, '20 messages')
  t.same(bob.inbox.filter((m) => m.is('message')).map((m) => m.getChildText('body')), Array.from({ length: 20 }, (_, i) => `n${i + 1}`), 'all 20, once, in order')
  t.equal(alice.terminated, null)
  t.equal(bob.terminated, null)
  t.equal(mp.link.status, 'ready', 'the link is up')
  const health = await postBody(mp.boshUrl, valid)
  t.match(health.text, /sid=/, 'new sessions still created')
  await waitFor(() => mp.app.bosh.size >= 2, 5_000, 'sessions')
  await Promise.all([alice.terminate(), bob.terminate()])
})

checkBodiesAgainstSchema(t)
