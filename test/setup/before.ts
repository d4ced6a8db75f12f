// tap `before` program: starts one private ejabberd for the whole test run on
// free loopback ports and writes its description for test/helpers/ejabberd.ts.
// A non-zero exit fails the run (tap then skips the tests and `after`), so every
// failure path here stops what it started.
import { freePorts } from '../helpers/ports.js'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import {
  descriptionPath,
  runScript,
  testStateDir,
  type TestEjabberdDescription,
} from '../helpers/ejabberd.js'
import { removeStaleRuns, stopAndRemove } from './runs.js'

const START_TIMEOUT_MS = 120_000
const START_ATTEMPTS = 3

// A developer's shell may hold the dev server's settings (`eval "$(ejabberd.sh
// env)"`); the test server gets its own secret and defaults. The switches that
// choose how to run (MEGAPHONE_EJABBERD_NO_LINK, install paths) still apply.
const INHERITED_SETTINGS = [
  'MEGAPHONE_EJABBERD_STATE',
  'MEGAPHONE_EJABBERD_C2S_PORT',
  'MEGAPHONE_EJABBERD_HTTP_PORT',
  'MEGAPHONE_EJABBERD_DOMAIN',
  'MEGAPHONE_LINK_PORT',
  'MEGAPHONE_LINK_SECRET',
]
const scriptEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !INHERITED_SETTINGS.includes(key))
)

// The tap runner spawns this program and every test file, then `after`.
const runnerPid = process.ppid
const stateDir = testStateDir(runnerPid)

async function start (): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const [c2sPort, httpPort, linkPort] = (await freePorts(3)) as [number, number, number]
    try {
      await runScript(
        [
          'start',
          '--state', stateDir,
          '--c2s-port', String(c2sPort),
          '--http-port', String(httpPort),
          '--link-port', String(linkPort),
          '--owner-pid', String(runnerPid),
        ],
        START_TIMEOUT_MS,
        scriptEnv
      )
      return
    } catch (err) {
      // Another process may take a free port between our check and ejabberd's bind.
      const portRace = /already in use/.test(String(err))
      if (!portRace || attempt >= START_ATTEMPTS) throw err
    }
  }
}

async function main (): Promise<void> {
  await removeStaleRuns(runnerPid)
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  try {
    await start()
    const server = JSON.parse(await runScript(['env', '--json', '--state', stateDir], 30_000)) as Omit<
      TestEjabberdDescription,
      'boshUrl' | 'runnerPid'
    >
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
    // `start` kills a server that failed to come up; this covers the rest.
    await stopAndRemove(stateDir).catch(() => undefined)
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
