// tap `before` program: launches test/setup/start-server.ts detached, which
// starts one private ejabberd for the whole run and describes it in
// .state/test-<runner pid>/run.json, and returns at once. The test files that
// need the server wait for that file in testEjabberd() (test/helpers/ejabberd.ts);
// the pure ones run meanwhile, instead of after a 3 to 5 s boot.
import { spawn } from 'node:child_process'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'

// `npm run test:unit` runs only the pure tests: no server to start.
if (process.env.MEGAPHONE_TEST_NO_EJABBERD !== '1') {
  const self = fileURLToPath(import.meta.url)
  // The same loader arguments as this program (tsx, or none for dist/test/).
  const starter = fileURLToPath(new URL(`./start-server${extname(self)}`, import.meta.url))
  // The tap runner spawns this program and every test file, then `after`.
  spawn(process.execPath, [...process.execArgv, starter, String(process.ppid)], { detached: true, stdio: 'ignore' }).unref()
}
