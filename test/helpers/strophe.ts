// Strophe.js 5's Node build as a test client, over BOSH (with
// xhr-polyfill.ts as the browser's XMLHttpRequest) or over WebSocket (its
// Node build installs `ws` as the WebSocket global): log in, chat in pairs,
// log out, each bounded in time.
import type { Test } from 'tap'
import { Agent } from 'undici'
import { Strophe, $msg, $pres } from 'strophe.js'
import { testEjabberd, waitFor } from './ejabberd.js'
import { installXMLHttpRequest } from './xhr-polyfill.js'

// Strophe logs at DEBUG by default; keep its warnings (timeouts, retries) and errors.
Strophe.setLogLevel(Strophe.LogLevel.WARN)

export const PASSWORD = 'secret-pw'
const { Status } = Strophe

export type Connection = InstanceType<typeof Strophe.Connection>

/** Status names, for failure messages. */
const STATUS_NAME = Object.fromEntries(Object.entries(Status).map(([name, n]) => [n, name]))

export interface Client {
  user: string
  conn: Connection
  /** Bodies of chat messages from the partner, in arrival order. */
  bodies: string[]
  /** Chat messages from anyone else, or from the partner with an unexpected from. */
  strays: string[]
  disconnected: Promise<void>
}

/**
 * Lets Strophe speak BOSH in this process until `t` ends: the browser's
 * XMLHttpRequest (xhr-polyfill.ts) on an agent of its own, so that its
 * keep-alive sockets end with the test. `onResponseText` sees every body.
 */
export function useBoshInNode (t: Test, onResponseText?: (text: string) => void): void {
  const agent = new Agent({ keepAliveTimeout: 1_000 })
  const uninstall = installXMLHttpRequest({ dispatcher: agent, onResponseText })
  t.teardown(async () => {
    uninstall()
    await agent.close()
  })
}

/**
 * Connects `user` through `url` (http(s):// for BOSH, ws(s):// for
 * WebSocket); resolves once Strophe reports CONNECTED (bounded).
 */
export async function connect (url: string, user: string, timeoutMs = 30_000): Promise<Client> {
  const ej = testEjabberd()
  const conn = new Strophe.Connection(url)
  let onDisconnected = (): void => {}
  const disconnected = new Promise<void>((resolve) => { onDisconnected = resolve })
  const client: Client = { user, conn, bodies: [], strays: [], disconnected }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${user}: not connected after ${timeoutMs} ms`)), timeoutMs)
    // BOSH: wait 10 s, hold 1 (Strophe's own timeouts are 1.1 x wait).
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

/**
 * Pairs (0, 1), (2, 3), …: each client sends `per` messages to its partner's
 * full JID (no subscription needed; initial presence is sent all the same),
 * each flushed on its own and interleaved across clients; then checks that
 * every client received m1 … m<per> exactly once, in order, and nothing else.
 */
export async function chatInPairs (t: Test, clients: Client[], per: number, timeoutMs = 30_000): Promise<void> {
  const jids = clients.map((c) => c.conn.jid as string)
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

  await Promise.all(clients.map(async (c, i) => {
    const to = jids[partner(i)] as string
    for (let k = 1; k <= per; k++) {
      c.conn.send($msg({ to, type: 'chat', id: `${c.user}-${k}` }).c('body').t(`m${k}`))
      c.conn.flush()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }))

  try {
    await waitFor(() => clients.every((c) => c.bodies.length >= per), timeoutMs, `every client to receive ${per} messages`)
  } catch (err) {
    // Say who is short, and on what: a timeout alone tells nothing.
    for (const c of clients.filter((c) => c.bodies.length < per)) {
      t.comment(`${c.user} (${c.conn.service}, connected ${String(c.conn.connected)}) received ${c.bodies.length}: ${c.bodies.join(' ')}`)
    }
    throw err
  }
  const expected = Array.from({ length: per }, (_, k) => `m${k + 1}`)
  const inOrder = clients.filter((c) => JSON.stringify(c.bodies) === JSON.stringify(expected)).length
  t.equal(inOrder, clients.length, `all ${clients.length} received m1 … m${per} exactly once, in order`)
  for (const c of clients) {
    if (JSON.stringify(c.bodies) !== JSON.stringify(expected)) t.fail(`${c.user} received ${c.bodies.join(' ')}`)
  }
  t.same(clients.flatMap((c) => c.strays), [], 'no message from anyone else')
}

/** Logs every client out and waits (bounded) until Strophe reports each disconnected. */
export async function disconnectAll (clients: Client[], timeoutMs = 15_000): Promise<void> {
  for (const c of clients) c.conn.disconnect('test over')
  await Promise.race([
    Promise.all(clients.map(async (c) => await c.disconnected)),
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`clients not disconnected within ${timeoutMs} ms`)), timeoutMs).unref())
  ])
}
