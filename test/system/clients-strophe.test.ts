// Strophe.js 5, the BOSH client browsers use, against Megaphone and the real
// ejabberd: its Node build, with test/helpers/xhr-polyfill.ts as the
// browser's XMLHttpRequest (XEP-0124, XEP-0206).
import t from 'tap'
import { Agent } from 'undici'
import { Strophe, $msg, $pres } from 'strophe.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { checkNothingLeft } from '../helpers/sessions.js'
import { checkBodiesAgainstSchema, recordBody } from '../helpers/bosh-http.js'
import { inBatches } from '../helpers/batches.js'
import { installXMLHttpRequest } from '../helpers/xhr-polyfill.js'
import { testEjabberd, registerUsers, sessionsWithPrefix, waitFor } from '../helpers/ejabberd.js'

const ej = testEjabberd()
const PASSWORD = 'secret-pw'
const { Status } = Strophe

// Strophe logs at DEBUG by default; keep its warnings (timeouts, retries) and errors.
Strophe.setLogLevel(Strophe.LogLevel.WARN)

type Connection = InstanceType<typeof Strophe.Connection>

/** Status names, for failure messages. */
const STATUS_NAME = Object.fromEntries(Object.entries(Status).map(([name, n]) => [n, name]))

interface Client {
  user: string
  conn: Connection
  /** Bodies of chat messages from the partner, in arrival order. */
  bodies: string[]
  /** Chat messages from anyone else, or from the partner with an unexpected from. */
  strays: string[]
  disconnected: Promise<void>
}

/** Connects `user` through `boshUrl`; resolves once Strophe reports CONNECTED (bounded). */
async function connect (boshUrl: string, user: string, timeoutMs = 30_000): Promise<Client> {
  const conn = new Strophe.Connection(boshUrl)
  let onDisconnected = (): void => {}
  const disconnected = new Promise<void>((resolve) => { onDisconnected = resolve })
  const client: Client = { user, conn, bodies: [], strays: [], disconnected }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${user}: not connected after ${timeoutMs} ms`)), timeoutMs)
    // wait 10 s, hold 1: Strophe's own timeouts are 1.1 x wait.
    conn.connect(`${user}@${ej.domain}/strophe`, PASSWORD, (status: number, condition: string | null) => {
      if (status === Status.CONNECTED) {
        clearTimeout(timer)
        resolve()
      } else if (status === Status.CONNFAIL || status === Status.AUTHFAIL || status === Status.ERROR || status === Status.CONNTIMEOUT) {
        clearTimeout(timer)
        reject(new Error(`${user}: ${STATUS_NAME[status] ?? status} ${condition ?? ''}`))
      } else if (status === Status.DISCONNECTED) {
        clearTimeout(timer)
        reject(new Error(`${user}: disconnected ${condition ?? ''}`))
        onDisconnected()
      }
    }, 10, 1)
  })
  return client
}

t.test('Strophe.js 5 logs 50 clients in through Megaphone; each sends 20 messages to its partner, every one delivered once and in order (XEP-0124, XEP-0206)', async (t) => {
  const prefix = 'strophe'
  const N = 50
  const PER = 20
  const started = Date.now()
  const users = await registerUsers(prefix, N, PASSWORD)
  const mp = await startMegaphone(t)
  // One agent for the polyfill, so its keep-alive sockets end with the test.
  const agent = new Agent({ keepAliveTimeout: 1_000 })
  const uninstall = installXMLHttpRequest({ dispatcher: agent, onResponseText: recordBody })
  t.teardown(async () => {
    uninstall()
    await agent.close()
  })

  const clients = await inBatches(users, 25, async (u) => await connect(mp.boshUrl, u))
  t.equal(mp.app.bosh.size, N, 'Megaphone holds 50 BOSH sessions')
  t.equal(mp.link.sessionCount, N, 'all on the one link')
  t.equal(await sessionsWithPrefix(prefix), N, 'ejabberd sees 50 sessions')
  const jids = clients.map((c) => c.conn.jid as string)
  t.ok(jids.every((jid, i) => jid === `${users[i]}@${ej.domain}/strophe`), 'each bound the resource it asked for')

  // Pairs (0, 1), (2, 3), …: each writes to the other's full JID, which needs
  // no presence subscription; initial presence is sent all the same.
  const partner = (i: number): number => i ^ 1
  clients.forEach((c, i) => {
    const from = jids[partner(i)]
    c.conn.addHandler((stanza: any) => {
      const body = stanza.getElementsByTagName('body')[0]?.textContent ?? null
      if (body === null) return true
      if (stanza.getAttribute('from') === from) c.bodies.push(body)
      else c.strays.push(`${stanza.getAttribute('from') as string}: ${body}`)
      return true
    }, null, 'message', 'chat')
    c.conn.send($pres())
  })

  // Each message is flushed on its own and the sends interleave across
  // clients, so a client's 20 messages span several requests.
  await Promise.all(clients.map(async (c, i) => {
    const to = jids[partner(i)] as string
    for (let k = 1; k <= PER; k++) {
      c.conn.send($msg({ to, type: 'chat', id: `${c.user}-${k}` }).c('body').t(`m${k}`))
      c.conn.flush()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }))

  await waitFor(() => clients.every((c) => c.bodies.length >= PER), 30_000, 'every client to receive 20 messages')
  const expected = Array.from({ length: PER }, (_, k) => `m${k + 1}`)
  const inOrder = clients.filter((c) => JSON.stringify(c.bodies) === JSON.stringify(expected)).length
  t.equal(inOrder, N, 'all 50 received m1 … m20 exactly once, in order')
  for (const c of clients) {
    if (JSON.stringify(c.bodies) !== JSON.stringify(expected)) t.fail(`${c.user} received ${c.bodies.join(' ')}`)
  }
  t.same(clients.flatMap((c) => c.strays), [], 'no message from anyone else')

  for (const c of clients) c.conn.disconnect('test over')
  await Promise.race([
    Promise.all(clients.map(async (c) => await c.disconnected)),
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error('clients not disconnected within 15 s')), 15_000).unref())
  ])
  await checkNothingLeft(t, mp, prefix, 15_000)
  t.comment(`${N} clients, ${N * PER} messages in ${Date.now() - started} ms`)
})

checkBodiesAgainstSchema(t)
