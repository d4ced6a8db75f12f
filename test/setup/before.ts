// tap `before` program: starts one private ejabberd for the whole test run on
// free loopback ports and writes its description for test/helpers/ejabberd.ts.
// A non-zero exit fails the run (tap then skips the tests and `after`), so every
// failure path here stops what it started.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import {
  descriptionPath,
  startEjabberd,
  stopEjabberd,
  testStateDir,
  type TestEjabberdDescription,
} from '../helpers/ejabberd.js'
import { removeStaleRuns } from './runs.js'

// The tap runner spawns this program and every test file, then `after`.
const runnerPid = process.ppid
const stateDir = testStateDir(runnerPid)

async function main (): Promise<void> {
  await removeStaleRuns(runnerPid)
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  try {
    // MEGAPHONE_EJABBERD_NO_LINK=1 runs the tests against a server without
    // megaphone_listener (the tests that need it skip).
    const server = await startEjabberd({
      stateDir,
      ownerPid: runnerPid,
      link: process.env.MEGAPHONE_EJABBERD_NO_LINK !== '1',
    })
    // JSON leaves the server's functions out: the file holds its description.
    const description: TestEjabberdDescription = {
      ...server,
      boshUrl: `http://${server.host}:${server.httpPort}/http-bind`,
      runnerPid,
    }
    await writeFile(descriptionPath(runnerPid), `${JSON.stringify(description, null, 2)}\n`, { mode: 0o600 })
    process.stderr.write(
      `# test ejabberd ${description.node}: c2s ${description.c2sPort}, http ${description.httpPort}, ` +
        `link ${description.link ? description.linkPort : 'off'}, state ${stateDir}\n`
    )
  } catch (err) {
    // `startEjabberd` kills a server that failed to come up; this covers the rest.
    await stopEjabberd(stateDir).catch(() => undefined)
    await rm(stateDir, { recursive: true, force: true })
    throw err
  }
}

// `npm run test:unit` runs only the pure tests: no server to start.
const wanted = process.env.MEGAPHONE_TEST_NO_EJABBERD !== '1'
if (wanted) {
  main().catch((err: unknown) => {
    process.stderr.write(`test setup failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
