// The end of a test that logged many users in through Megaphone: nothing of
// theirs is left anywhere.
import type { Test } from 'tap'
import { waitFor, waitForSessions } from './ejabberd.js'
import type { Megaphone } from './megaphone.js'

/**
 * Waits (bounded) until ejabberd holds no session of users named `prefix`…,
 * Megaphone no BOSH or WebSocket session and its link no connection ID, and says so.
 */
export async function checkNothingLeft (t: Test, mp: Megaphone, prefix: string, timeoutMs = 15_000): Promise<void> {
  t.equal(await waitForSessions(prefix, 0, timeoutMs), 0, 'ejabberd holds no session of these users')
  await waitFor(() => mp.app.bosh.size === 0, 5_000, 'Megaphone to forget the sessions')
  t.equal(mp.app.bosh.size, 0, 'Megaphone holds no BOSH session')
  await waitFor(() => mp.app.websocket.size === 0, 5_000, 'Megaphone to end the WebSocket sessions')
  t.equal(mp.app.websocket.size, 0, 'nor any WebSocket session')
  // ejabberd ends each connection ID once it has closed the stream the terminate asked to close.
  await waitFor(() => mp.link.sessionCount === 0, 10_000, 'ejabberd to end the connection IDs')
  t.equal(mp.link.sessionCount, 0, 'nor any link session')
}
