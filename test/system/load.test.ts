// Many BOSH sessions at once through Megaphone, raw HTTP against the real
// ejabberd: every session rides the one link, every message arrives once and
// in order, and nothing is left behind in either server afterwards.
import t from 'tap'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkNothingLeft } from '../helpers/sessions.js'
import { BoshClient, chat, checkBodiesAgainstSchema } from '../helpers/bosh-http.js'
import { inBatches } from '../helpers/batches.js'
import { testEjabberd, registerUsers, sessionsWithPrefix, ctl, waitFor } from '../helpers/ejabberd.js'

const ej = testEjabberd()
const PASSWORD = 'secret-pw'

/**
 * `prefix`'s sessions in ejabberd, and how many distinct links their
 * megaphone_session processes are on (megaphone_ctl:links_used/2).
 */
async function linksUsedBy (prefix: string): Promise<{ sessions: number, links: number }> {
  return await ctl('links_used', prefix, ej.domain)
}

t.test('200 concurrent BOSH sessions share the one link; every message is delivered exactly once and in order, and ejabberd is back to 0 sessions after they terminate (XEP-0124, XEP-0206)', async (t) => {
  const prefix = 'load'
  const N = 200
  const PER = 10
  const started = Date.now()
  const users = await registerUsers(prefix, N, PASSWORD)
  const mp = await startMegaphone(t)

  // 50 logins at a time: the machine has two cores shared with other runs.
  const clients = await inBatches(users, 50, async (user) => {
    const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
    await c.login(user, PASSWORD, 'load')
    return c
  })
  const loggedIn = Date.now()
  t.equal(mp.app.bosh.size, N, 'Megaphone holds 200 BOSH sessions')
  t.equal(mp.link.sessionCount, N, '200 sessions on the link')
  t.equal(await sessionsWithPrefix(prefix), N, 'ejabberd holds 200 sessions of these users')
  t.same(await linksUsedBy(prefix), { sessions: N, links: 1 }, 'all 200 c2s processes use one and the same link socket')

  // Pairs (0, 1), (2, 3), …, each to the other's full JID while both poll.
  for (const c of clients) c.startPolling()
  const partner = (i: number): number => i ^ 1
  await Promise.all(clients.map(async (c, i) => {
    const to = clients[partner(i)]!.jid
    // One message per request, each sent once the previous one is answered.
    for (let k = 1; k <= PER; k++) await c.send(chat(to, `${users[i]}#${k}`))
  }))
  const messages = (c: BoshClient): string[] => c.inbox.filter((el) => el.is('message')).map((el) => el.getChildText('body') ?? '')
  await waitFor(() => clients.every((c) => messages(c).length >= PER), 30_000, 'every client to receive its 10 messages')
  const delivered = Date.now()
  t.equal(mp.app.bosh.size, N, 'still 200 sessions while they chat')
  t.equal(mp.link.sessionCount, N, 'still 200 sessions on the link while they chat')

  let inOrder = 0
  clients.forEach((c, i) => {
    const from = clients[partner(i)]!
    const expected = Array.from({ length: PER }, (_, k) => `${users[partner(i)]}#${k + 1}`)
    const got = messages(c)
    if (JSON.stringify(got) === JSON.stringify(expected)) inOrder++
    else t.fail(`${users[i]} received ${got.join(' ')}`)
    const senders = new Set(c.inbox.filter((el) => el.is('message')).map((el) => el.attrs.from))
    if (senders.size !== 1 || !senders.has(from.jid)) t.fail(`${users[i]} received messages from ${[...senders].join(', ')}`)
  })
  t.equal(inOrder, N, 'every receiver got its partner\'s 10 messages exactly once, in order')
  t.equal(clients.filter((c) => c.terminated !== null).length, 0, 'no session ended early')

  const terminated = await inBatches(clients, 50, async (c) => await c.terminate())
  t.ok(terminated.every((el) => el.attrs.type === 'terminate'), 'every terminate request is answered with a terminate body')
  await checkNothingLeft(t, mp, prefix, 20_000)
  t.comment(`${N} sessions: logins ${loggedIn - started} ms, ${N * PER} messages ${delivered - loggedIn} ms, total ${Date.now() - started} ms`)
})

checkBodiesAgainstSchema(t)
