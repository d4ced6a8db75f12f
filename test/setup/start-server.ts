// Started detached by test/setup/before.ts with the tap runner's pid: starts
// the run's private ejabberd on free loopback ports and writes its description
// (run.json) for test/helpers/ejabberd.ts, or, when it cannot, the reason
// (run.error) after stopping what it started. Test files wait for one or the
// other (testEjabberd()), so the first ones run while the server boots.
import { mkdir, rename, writeFile } from 'node:fs/promises'
import {
  descriptionPath,
  startErrorPath,
  startEjabberd,
  stopEjabberd,
  testStateDir,
  type TestEjabberdDescription,
} from '../helpers/ejabberd.js'
import { removeStaleRuns } from './runs.js'

const runnerPid = Number(process.argv[2])
const stateDir = testStateDir(runnerPid)

async function main (): Promise<void> {
  await removeStaleRuns(runnerPid)
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
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
  // Renamed into place: a test file waiting for it never reads half of it.
  const path = descriptionPath(runnerPid)
  await writeFile(`${path}.tmp`, `${JSON.stringify(description, null, 2)}\n`, { mode: 0o600 })
  await rename(`${path}.tmp`, path)
}

main().catch(async (err: unknown) => {
  // `startEjabberd` kills a server that failed to come up; this covers the
  // rest. The directory stays for the reason; `after` removes it.
  await stopEjabberd(stateDir, { keep: true }).catch(() => undefined)
  await mkdir(stateDir, { recursive: true, mode: 0o700 }).catch(() => undefined)
  await writeFile(startErrorPath(runnerPid), err instanceof Error ? err.message : String(err)).catch(() => undefined)
  process.exitCode = 1
})
