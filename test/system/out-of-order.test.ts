// Requests of one session that arrive out of rid order (XEP-0124 14.2: the
// connection manager forwards payloads in rid order, and answers every
// request). Megaphone against the real ejabberd, and for comparison the same
// scenario against ejabberd 23.01's own mod_bosh.
import t, { type Test } from 'tap'
import { startMegaphone } from '../helpers/megaphone.js'
import { BoshClient, body, chat, checkBodiesAgainstSchema, parseBody, postBody, type HttpAnswer } from '../helpers/bosh-http.js'
import { testEjabberd, registerUsers, sessionsWithPrefix, ctl, waitFor } from '../helpers/ejabberd.js'
import type { RequestBody } from '../../lib/bosh/body.js'

const ej = testEjabberd()
const PASSWORD = 'secret-pw'
/** mod_bosh's sender's `wait` (s): how long its last request is held when no data comes. */
const WAIT_SECONDS = 1

/** One POST that may be answered late or never: settles to the answer or the error, and can be aborted. */
class Pending {
  readonly controller = new AbortController()
  answer: HttpAnswer | null = null
  error: Error | null = null
  readonly settled: Promise<void>

  constructor (url: string, text: string) {
    this.settled = postBody(url, text, { signal: this.controller.signal }).then(
      (answer) => { this.answer = answer },
      (err: Error) => { this.error = err }
    )
  }

  get done (): boolean { return this.answer !== null || this.error !== null }

  /** The answer within `ms`, or a failure naming `what`. */
  async within (ms: number, what: string): Promise<HttpAnswer> {
    await waitFor(() => this.done, ms, what, 20)
    if (this.error !== null) throw this.error
    return this.answer as HttpAnswer
  }
}

/** Bodies of the chat messages in `c`'s inbox, in arrival order. */
function chatBodies (c: BoshClient): string[] {
  return c.inbox.filter((el) => el.is('message')).map((el) => el.getChildText('body') ?? '')
}

/** A receiver that keeps a request held, and a sender with no request outstanding, both logged in at `url`. */
async function pair (t: Test, url: string, prefix: string, waitSeconds: number): Promise<{ sender: BoshClient, receiver: BoshClient }> {
  const [senderName, receiverName] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const receiver = new BoshClient(url, { domain: ej.domain })
  await receiver.login(receiverName, PASSWORD, 'receiver')
  receiver.startPolling()
  const sender = new BoshClient(url, { domain: ej.domain, wait: waitSeconds })
  // login() ends with the initial presence, answered at once with the presence
  // ejabberd reflects (RFC 6121 4.2.2): afterwards nothing is outstanding.
  await sender.login(senderName, PASSWORD, 'sender')
  t.teardown(() => { sender.stopPolling(); receiver.stopPolling() })
  return { sender, receiver }
}

t.test('two requests of one session arriving out of rid order, each with a message: both messages are delivered, in rid order, and both requests are answered (XEP-0124 14.2)', async (t) => {
  const prefix = 'ooo'
  const mp = await startMegaphone(t)
  // A `wait` longer than the test: every answer below comes from a request's arrival, none from wait expiring.
  const { sender, receiver } = await pair(t, mp.boshUrl, prefix, 30)
  const session = mp.app.bosh.get(sender.sid)
  t.ok(session, 'Megaphone has the sender\'s session')
  t.equal(session?.heldCount, 0, 'no request of the sender is outstanding')
  const handled = t.capture(mp.app.bosh, 'handle', mp.app.bosh.handle)
  const rid = sender.rid

  // rid + 2 first: it waits for rid + 1 (XEP-0124 14.2), unanswered.
  const second = new Pending(mp.boshUrl, body({ rid: rid + 2, sid: sender.sid }, chat(receiver.jid, 'second')))
  await waitFor(() => handled().some((c) => (c.args[0] as RequestBody).rid === rid + 2), 5_000, 'Megaphone to receive rid + 2')
  t.notOk(second.done, 'rid + 2 is not answered while rid + 1 is missing')
  t.equal(session?.heldCount, 0, 'nor held: it waits ahead of the gap')
  t.same(chatBodies(receiver), [], 'and its message is not forwarded yet')

  const first = new Pending(mp.boshUrl, body({ rid: rid + 1, sid: sender.sid }, chat(receiver.jid, 'first')))
  const firstAnswer = parseBody(await first.within(5_000, 'the answer to rid + 1'))
  // hold = 1: processing rid + 2 answers rid + 1, and rid + 2 is held.
  t.equal(firstAnswer.attrs.type, undefined, 'rid + 1 is answered, the session going on')
  t.notOk(second.done, 'rid + 2 is not answered yet')
  t.equal(session?.heldCount, 1, 'rid + 2 is held (hold = 1)')
  await receiver.until(() => chatBodies(receiver).length >= 2, 'both messages', 10_000)

  // A third message, in order after them, shows nothing else was on its way;
  // its request (rid + 3) releases rid + 2 and is held in turn.
  sender.rid = rid + 2
  const third = sender.send(chat(receiver.jid, 'third'))
  const secondAnswer = parseBody(await second.within(5_000, 'the answer to rid + 2'))
  t.equal(secondAnswer.attrs.type, undefined, 'rid + 2 is answered, the session going on')
  await receiver.until(() => chatBodies(receiver).length >= 3, 'the third message', 10_000)
  t.same(chatBodies(receiver), ['first', 'second', 'third'], 'first, then second, each exactly once (and third after them)')
  t.ok(receiver.inbox.filter((el) => el.is('message')).every((el) => el.attrs.from === sender.jid), 'all from the sender')

  // The terminate (rid + 4) answers the held rid + 3 too (XEP-0124 13).
  await Promise.all([sender.terminate(), receiver.terminate(), third])
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, 10_000, 'ejabberd to drop the sessions')
})

// Megaphone's bodies only: the check takes the bodies received so far, before
// the comparison below records mod_bosh's (whose session creation response
// carries secure='true', an attribute httpbind.xsd does not allow).
checkBodiesAgainstSchema(t)

/**
 * ejabberd 23.01's ejabberd_bosh keeps a request with rid > prev_rid + 1 in its
 * `receivers` tree with its payload and never takes it out again: when
 * prev_rid + 1 arrives it is routed and held, and the early request is neither
 * routed nor answered (its HTTP handler waits with an infinite timeout). Reads
 * prev_rid and the receivers' rids from the session's state
 * (megaphone_ctl:bosh_state/1, which knows 23.01's ejabberd_bosh #state record).
 */
async function modBoshState (sid: string): Promise<{ prevRid: number, receivers: number[] }> {
  const state = await ctl<{ prev_rid: number, receivers: number[] }>('bosh_state', sid)
  return { prevRid: state.prev_rid, receivers: state.receivers }
}

t.test('for comparison: ejabberd 23.01 mod_bosh forwards the first message but never forwards the second, nor answers its request', async (t) => {
  const prefix = 'ooomb'
  const { sender, receiver } = await pair(t, ej.boshUrl, prefix, WAIT_SECONDS)
  const rid = sender.rid
  t.same(await modBoshState(sender.sid), { prevRid: rid, receivers: [] }, 'no request of the sender is outstanding')

  const second = new Pending(ej.boshUrl, body({ rid: rid + 2, sid: sender.sid }, chat(receiver.jid, 'second')))
  t.teardown(() => second.controller.abort())
  await waitFor(async () => (await modBoshState(sender.sid)).receivers.includes(rid + 2), 5_000, 'mod_bosh to receive rid + 2')
  t.notOk(second.done, 'rid + 2 waits for rid + 1')

  const first = new Pending(ej.boshUrl, body({ rid: rid + 1, sid: sender.sid }, chat(receiver.jid, 'first')))
  const firstAnswer = parseBody(await first.within(WAIT_SECONDS * 1000 + 5_000, 'the answer to rid + 1'))
  t.equal(firstAnswer.attrs.type, undefined, 'rid + 1 is answered, the session going on')
  await receiver.until(() => chatBodies(receiver).length >= 1, 'the first message', 10_000)
  t.same(await modBoshState(sender.sid), { prevRid: rid + 1, receivers: [rid + 2] },
    'rid + 1 was processed, and rid + 2 is still parked, unprocessed, with no request held for it')

  // Nothing in ejabberd_bosh takes a parked request out again; watch a while
  // longer than a whole wait period to show it, then give up on it.
  const windowMs = WAIT_SECONDS * 1000 + 2_000
  await t.rejects(second.within(windowMs, 'rid + 2 to be answered'), /timed out/, `rid + 2 is still unanswered after another ${windowMs} ms`)
  t.same(chatBodies(receiver), ['first'], '"second" never reached the receiver')
  second.controller.abort()
  await second.settled
  t.match(second.error?.name, /AbortError/, 'the test aborted rid + 2 itself')

  // Clean up: terminate as rid + 2 (prev_rid + 1, so mod_bosh processes it).
  sender.rid = rid + 1
  await sender.terminate()
  await receiver.terminate()
  await waitFor(async () => (await sessionsWithPrefix(prefix)) === 0, 10_000, 'ejabberd to drop the sessions')
})
