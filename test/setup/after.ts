// tap `after` program: stops the run's ejabberd and removes its state directory.
// It runs even when tests fail or bail out; if tap itself is killed, the
// watcher started with `--owner-pid` stops the server, and the next run's
// `before` removes the directory.
import { stopEjabberd, testStateDir } from '../helpers/ejabberd.js'

// Killed at once: its state directory is removed next, so nothing needs a graceful stop.
stopEjabberd(testStateDir(process.ppid), { now: true }).catch((err: unknown) => {
  process.stderr.write(`test teardown failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
