// Benchmark: memory per idle session as the machine pays it. Whole-process
// resident memory (VmRSS from /proc, read from outside, no forced garbage
// collection anywhere), before and after N idle authenticated sessions:
// Megaphone's Node process and its ejabberd, over BOSH (one request held
// each) and over WebSocket (RFC 7395), beside ejabberd's own mod_bosh and
// WebSocket measured the same way in the same run (docs/bench-rss.md).
//
//   npm run build && node dist/scripts/bench/rss.js [--sizes 1000,5000,9000] [--settle-s 10]
//
// 1. Start ejabberd in .state/bench-<pid> on free ports, register max(N) users.
// 2. For each N, the two paths (the order alternates from one N to the next),
//    each from fresh processes: ejabberd restarted on the same state (memory
//    an earlier phase freed stays resident and would hide this one's cost),
//    and for Megaphone a fresh Megaphone process on its defaults.
//    200 sessions in and out through the path, so that code is loaded and
//    compiled; settle; read; N sessions log in (bosh-clients.ts or
//    ws-clients.ts, a process of its own) and idle (BOSH: one request held);
//    settle; read; terminate them
//    all; settle; read again (what is given back). Per session =
//    (loaded - before) / N.
// 3. Print one table, the extrapolation to 1,000,000 sessions, and the
//    secondary figures (Megaphone's V8 heap, ejabberd's erlang:memory(total)),
//    which are for diagnosis only.
import os from 'node:os'
import { BenchRun } from './bench-run.js'
import { checkClients, inAndOut, runningClients, startClients, terminateClients, type ClientSettings } from './bosh-clients-parent.js'
import { sleep, type Ejabberd } from '../../test/helpers/ejabberd.js'
import { ejabberdOsPid } from './ejabberd-memory.js'
import { commandLine, log, markdownTable } from './harness.js'
import { megaphoneMemory, startMegaphoneProcess, stopMegaphoneProcess, waitForMegaphoneEmpty, type Megaphone } from './megaphone-child.js'
import { positiveInt, readCommandLine, runOptions } from './options.js'
import { rssBytes } from './proc-stat.js'

/** The client process holds N sockets, and so does Megaphone (or ejabberd for mod_bosh): under the 20,000 open files a process may have here. */
const MAX_SIZE = 9_500
/** Sessions in and out of fresh processes before their first reading: loads and compiles the code paths. */
const WARM_UP = 200
const CLOSE_TIMEOUT_MS = 60_000
/** Megaphone's default longest `wait`: the clients ask for it, so a held request is answered only by the next one's need. */
const WAIT_SECONDS = 60
const KiB = 1024
const MiB = 1024 * 1024

const OPTIONS = {
  ...runOptions(2400, '1000,5000,9000'),
  'settle-s': { type: 'string', default: '10' },
  'megaphone-node-args': { type: 'string', default: '' },
  paths: { type: 'string', default: 'Megaphone,mod_bosh,Megaphone-ws,ejabberd-ws' }
} as const

const HELP = `Usage: node dist/scripts/bench/rss.js [options]   (after: npm run build)

  --sizes N,N     session counts to measure, each <= ${MAX_SIZE} (default 1000,5000,9000)
  --settle-s S    wait before every reading (default 10)
  --paths P,P     which to measure (default all four): Megaphone (BOSH through Megaphone),
                  mod_bosh (ejabberd's BOSH), Megaphone-ws (WebSocket through Megaphone),
                  ejabberd-ws (ejabberd's own WebSocket, ejabberd_http_ws)
  --megaphone-node-args A,A  Node options for Megaphone's process (e.g. --max-semi-space-size=2)
  --concurrency C logins (and terminations) in flight at once (default 100)
  --timeout-s S   bound on the whole run (default 2400)
  --keep-state    keep .state/bench-<pid> (config, logs) after the run
`

const PATHS = ['Megaphone', 'mod_bosh', 'Megaphone-ws', 'ejabberd-ws'] as const
type Path = (typeof PATHS)[number]
/** Paths through Megaphone: its process is measured too. */
const viaMegaphone = (path: Path): boolean => path === 'Megaphone' || path === 'Megaphone-ws'

/** One moment of a phase: resident memory from /proc, and the secondary figures. */
interface Moment {
  megaphoneRss: number
  ejabberdRss: number
  /** Megaphone's V8 heap used, as it is (no GC). */
  megaphoneHeap: number
  /** ejabberd's erlang:memory(total), as it is (no GC). */
  erlangTotal: number
  /** Megaphone's V8 heap spaces, committed bytes. */
  spaces: Record<string, number>
}

interface Phase { path: Path, n: number, before: Moment, loaded: Moment, after: Moment, loginMs: number }

const running: { megaphone: Megaphone | null } = { megaphone: null }
const run = new BenchRun(() => {
  for (const c of [runningClients.current?.child, running.megaphone?.child]) {
    if (c !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
})

async function moment (server: Ejabberd, ejabberdPid: number, megaphone: Megaphone | null): Promise<Moment> {
  // Resident memory first, before anything this reading asks of the processes.
  const megaphoneRss = megaphone === null ? NaN : rssBytes(megaphone.child.pid as number)
  const ejabberdRss = rssBytes(ejabberdPid)
  let megaphoneHeap = NaN
  let spaces: Record<string, number> = {}
  if (megaphone !== null) {
    const memory = await megaphoneMemory(megaphone, { gc: false })
    megaphoneHeap = memory.heapUsed
    spaces = memory.spaces
  }
  // erlang:memory/1 needs the VM's allocators; with +Mea min it is not supported.
  const erlangTotal = await server.evalErlang('erlang:memory(total).').then(Number, () => NaN)
  return { megaphoneRss, ejabberdRss, megaphoneHeap, erlangTotal, spaces }
}

async function phase (path: Path, n: number, settleMs: number, settings: ClientSettings, nodeArgs: readonly string[]): Promise<Phase> {
  const server = await run.restartEjabberd()
  const ejabberdPid = await ejabberdOsPid(server)
  let megaphone: Megaphone | null = null
  let url = path === 'ejabberd-ws' ? `ws://127.0.0.1:${server.httpPort}/ws` : `http://127.0.0.1:${server.httpPort}/http-bind`
  if (viaMegaphone(path)) {
    megaphone = running.megaphone = await startMegaphoneProcess(server, nodeArgs)
    url = megaphone.url
    if (path === 'Megaphone-ws') {
      const ws = new URL(megaphone.url)
      ws.protocol = 'ws:'
      ws.pathname = '/xmpp-websocket'
      url = ws.href
    }
  }
  await inAndOut(`${path} warm-up`, url, server, Math.min(n, WARM_UP), settings)
  if (megaphone !== null) await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  await sleep(settleMs)
  const before = await moment(server, ejabberdPid, megaphone)
  const clients = await startClients(path, url, server, n, settings)
  log(`${path}: ${n} sessions logged in in ${(clients.loginMs / 1000).toFixed(1)} s; settling ${settleMs / 1000} s`)
  await sleep(settleMs)
  await checkClients(clients, n, 'after settling')
  const connected = await server.connectedUsers()
  if (connected !== n) throw new Error(`${path}: ejabberd has ${connected} sessions, expected ${n}`)
  const loaded = await moment(server, ejabberdPid, megaphone)
  await checkClients(clients, n, 'after the reading')
  await terminateClients(server, clients, n)
  if (megaphone !== null) await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  await sleep(settleMs)
  const after = await moment(server, ejabberdPid, megaphone)
  if (megaphone !== null) {
    await stopMegaphoneProcess(megaphone)
    running.megaphone = null
  }
  return { path, n, before, loaded, after, loginMs: clients.loginMs }
}

// ---------------------------------------------------------------- report

const f = (x: number, digits = 1): string => Number.isFinite(x) ? x.toFixed(digits) : '-'
const perSession = (p: Phase, key: Exclude<keyof Moment, 'spaces'>): number => (p.loaded[key] - p.before[key]) / p.n
/** What one session costs in all on a path: both processes through Megaphone, ejabberd alone for its own endpoints. */
const total = (p: Phase): number => viaMegaphone(p.path) ? perSession(p, 'megaphoneRss') + perSession(p, 'ejabberdRss') : perSession(p, 'ejabberdRss')

function report (phases: readonly Phase[], meta: { version: string, settleS: number, nodeArgs: readonly string[] }): string {
  const rows = phases.map((p) => [
    String(p.n), p.path,
    viaMegaphone(p.path) ? f(perSession(p, 'megaphoneRss') / KiB) : 'n/a',
    f(perSession(p, 'ejabberdRss') / KiB),
    f(total(p) / KiB),
    f((total(p) * 1_000_000) / (1024 * MiB), 1),
    viaMegaphone(p.path) ? f((p.after.megaphoneRss - p.before.megaphoneRss) / MiB) : 'n/a',
    f((p.after.ejabberdRss - p.before.ejabberdRss) / MiB),
    viaMegaphone(p.path) ? f(perSession(p, 'megaphoneHeap') / KiB) : 'n/a',
    f(perSession(p, 'erlangTotal') / KiB)
  ])
  const sizes = [...new Set(phases.map((p) => p.n))]
  const ratio = (n: number, ours: Path, theirs: Path): string => {
    const m = phases.find((p) => p.n === n && p.path === ours)
    const b = phases.find((p) => p.n === n && p.path === theirs)
    return m === undefined || b === undefined ? '' : `  N = ${n}: ${ours} (both processes) / ${theirs} = ${f(total(m) / total(b), 2)}`
  }
  const ratios = sizes.flatMap((n) => [ratio(n, 'Megaphone', 'mod_bosh'), ratio(n, 'Megaphone-ws', 'ejabberd-ws'), ratio(n, 'Megaphone-ws', 'Megaphone')])
    .filter((l) => l !== '')
  return [
    `# Resident memory per idle session: BOSH and WebSocket, Megaphone and ejabberd's own (${new Date().toISOString().slice(0, 10)})`, '',
    `\`${commandLine()}\``, '',
    `${meta.version}; Node ${process.version}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}; ${(os.totalmem() / 1024 / MiB).toFixed(0)} GiB.`,
    `Each session: authenticated, idle; over BOSH with one request held (wait ${WAIT_SECONDS} s), over WebSocket its open connection. RSS: VmRSS of /proc/<pid>/status, read from outside after ${meta.settleS} s of settling; no forced GC in any measured process.`,
    `ejabberd's VM flags: ${process.env.MEGAPHONE_EJABBERD_ERL_FLAGS ?? '(scripts/ejabberd.sh defaults)'}. Megaphone's extra Node options: ${meta.nodeArgs.length === 0 ? 'none' : meta.nodeArgs.join(' ')}.`,
    `Every phase from fresh processes (ejabberd restarted, a new Megaphone), ${WARM_UP} sessions in and out before the first reading. Per session: (loaded - before) / N.`, '',
    ...markdownTable([['N', 'path', 'Megaphone RSS, KiB/session', 'ejabberd RSS, KiB/session', 'total, KiB/session', '1,000,000 sessions, GiB',
      'Megaphone RSS after logout - before, MiB', 'ejabberd RSS after logout - before, MiB', 'Megaphone heap used, KiB/session (diagnosis)',
      'ejabberd erlang:memory(total), KiB/session (diagnosis)'], ...rows]),
    '', 'Ratios:', ...ratios, '',
    'Megaphone\'s V8 heap spaces, committed KiB per session (loaded - before; diagnosis):',
    ...phases.filter((p) => viaMegaphone(p.path)).map((p) => `  N = ${p.n}, ${p.path}: ` + Object.keys(p.loaded.spaces)
      .map((k) => `${k} ${f(((p.loaded.spaces[k] ?? 0) - (p.before.spaces[k] ?? 0)) / p.n / KiB)}`).join(', ')),
    '',
    'Login time: ' + phases.map((p) => `${p.path} N = ${p.n} ${f(p.loginMs / 1000)} s`).join('; '), ''
  ].join('\n')
}

// ---------------------------------------------------------------- main

run.main(async () => {
  const cli = readCommandLine(OPTIONS, HELP, MAX_SIZE)
  if (cli === null) return
  const { args, settings: { sizes, concurrency } } = cli
  const settleMs = positiveInt('settle-s', String(args['settle-s']), 600) * 1000
  const settings: ClientSettings = { waitSeconds: WAIT_SECONDS, concurrency }
  const nodeArgs = String(args['megaphone-node-args']).split(',').filter((a) => a !== '')
  const paths = String(args.paths).split(',')
  for (const p of paths) if (!(PATHS as readonly string[]).includes(p)) throw new Error(`--paths: ${PATHS.join(', ')}, not ${p}`)
  run.begin(cli.settings)
  const maxN = Math.max(...sizes)
  const { version } = await run.startEjabberd(maxN, { countProcesses: false })

  const phases: Phase[] = []
  for (const [i, n] of sizes.entries()) {
    const order: Path[] = i % 2 === 0 ? [...PATHS] : [...PATHS].reverse()
    for (const path of order.filter((p) => paths.includes(p))) phases.push(await phase(path, n, settleMs, settings, nodeArgs))
  }
  await run.finish(report(phases, { version, settleS: settleMs / 1000, nodeArgs }))
})
