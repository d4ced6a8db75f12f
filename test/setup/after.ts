// tap `after` program: stops the run's ejabberd and removes its state directory.
// It runs even when tests fail or bail out; if tap itself is killed, the
// watcher started with `--owner-pid` stops the server, and the next run's
// `before` removes the directory.
import { START_WAIT_MS, startState, stopEjabberd, testStateDir, waitFor } from '../helpers/ejabberd.js'

const runnerPid = process.ppid

async function main (): Promise<void> {
  if (process.env.MEGAPHONE_TEST_NO_EJABBERD === '1') return
  // A run of pure tests can end before the server is up: let the start
  // finish first, or it would go on in a directory removed under it.
  await waitFor(() => startState(runnerPid) !== 'starting', START_WAIT_MS, 'the test ejabberd\'s start to end', 100)
  // Killed at once: its state directory is removed next, so nothing needs a graceful stop.
  await stopEjabberd(testStateDir(runnerPid), { now: true })
}

main().catch((err: unknown) => {
  process.stderr.write(`test teardown failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
