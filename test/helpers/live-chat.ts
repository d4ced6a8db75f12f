// A conversation that goes on while a test attacks Megaphone: two pairs of
// Strophe.js clients, one pair over BOSH and one over WebSocket, from
// 127.0.0.1, each client sending its partner a numbered message every
// TICK_MS. checkpoint() waits (bounded) until everything sent so far has
// arrived and checks that it arrived once, in order, and that no client was
// disconnected: the chat never noticed the attack.
import type { Test } from 'tap'
import { $msg, $pres } from 'strophe.js'
import { registerUsers, waitFor } from './ejabberd.js'
import { connect, disconnectAll, PASSWORD, useBoshInNode, type Client } from './strophe.js'

/** Interval between a client's messages (ms). */
const TICK_MS = 100

export interface LiveChat {
  /** Waits until every message sent so far has arrived; checks order, uniqueness and that nobody was disconnected. */
  checkpoint (t: Test, what: string): Promise<void>
  /** Messages sent so far, by all four clients. */
  readonly sent: number
  /** Stops sending, checks a last time, logs the clients out. */
  stop (t: Test): Promise<void>
}

interface Talker { client: Client, to: string, sent: number, received: number[], lost: boolean }

/** Starts the conversation through Megaphone at `boshUrl` and `websocketUrl`; users are registered with `prefix`. */
export async function startLiveChat (t: Test, urls: { boshUrl: string, websocketUrl: string }, prefix: string): Promise<LiveChat> {
  let clients: Client[] = []
  let running = true
  // Before useBoshInNode's teardown: the clients stop while they still have their XMLHttpRequest.
  t.teardown(async () => {
    running = false
    await disconnectAll(clients.filter((c) => c.conn.connected === true)).catch(() => {})
    // A test that ended early (a failure, a --grep): Strophe's idle loop would go on polling after Megaphone is gone.
    for (const c of clients) {
      const conn = c.conn as unknown as { _idleTimeout?: NodeJS.Timeout, _onIdle: () => void }
      clearTimeout(conn._idleTimeout)
      conn._onIdle = () => {}
    }
  })
  useBoshInNode(t)
  const users = await registerUsers(prefix, 4, PASSWORD)
  clients = await Promise.all(users.map(async (u, i) => await connect(i < 2 ? urls.boshUrl : urls.websocketUrl, u)))
  const talkers: Talker[] = clients.map((client, i) => ({ client, to: clients[i ^ 1]!.conn.jid as string, sent: 0, received: [], lost: false }))
  for (const [i, talker] of talkers.entries()) {
    const from = talkers[i ^ 1]!.client.conn.jid as string
    void talker.client.disconnected.then(() => { talker.lost = true })
    talker.client.conn.addHandler((stanza: any) => {
      const body = stanza.getElementsByTagName('body')[0]?.textContent ?? null
      if (body !== null && stanza.getAttribute('from') === from) talker.received.push(Number(body))
      return true
    }, null, 'message', 'chat')
    talker.client.conn.send($pres())
  }
  const timer = setInterval(() => {
    if (!running) return
    for (const talker of talkers) {
      talker.sent++
      talker.client.conn.send($msg({ to: talker.to, type: 'chat' }).c('body').t(String(talker.sent)))
      talker.client.conn.flush()
    }
  }, TICK_MS)
  t.teardown(() => { clearInterval(timer) })

  const checkpoint = async (t: Test, what: string): Promise<void> => {
    const expected = talkers.map((talker) => talker.sent)
    const partnerOf = (i: number): Talker => talkers[i ^ 1]!
    await waitFor(() => talkers.every((talker, i) => talker.received.length >= expected[i ^ 1]! || talker.lost), 30_000,
      `every message sent before ${what} to arrive`)
    for (const [i, talker] of talkers.entries()) {
      const name = `${i < 2 ? 'BOSH' : 'WebSocket'} client ${i}`
      t.notOk(talker.lost, `${what}: ${name} still connected`)
      const got = talker.received
      const inOrder = got.every((n, k) => n === k + 1)
      t.ok(inOrder && got.length <= partnerOf(i).sent, `${what}: ${name} received messages 1 … ${got.length}, each once, in order`)
    }
  }

  return {
    checkpoint,
    get sent () { return talkers.reduce((n, talker) => n + talker.sent, 0) },
    async stop (t) {
      running = false
      clearInterval(timer)
      await checkpoint(t, 'the end')
      t.comment(`live chat: ${talkers.reduce((n, x) => n + x.received.length, 0)} messages delivered over BOSH and WebSocket`)
      await disconnectAll(clients)
    }
  }
}
