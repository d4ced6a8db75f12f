// Benchmark: memory per idle BOSH session, through Megaphone (its own Node
// process, plus ejabberd behind the link) against ejabberd's own mod_bosh, in
// one run against one private ejabberd on loopback (docs/bench-bosh-memory.md).
//
//   npm run build && node --expose-gc dist/scripts/bench/bosh-memory.js [--sizes 1000,5000]
//
// 1. Start ejabberd in .state/bench-<pid> on free ports, register the users.
// 2. Warm up: max(sizes) sessions through Megaphone, then through mod_bosh,
//    logged in and terminated, so that ejabberd starts every phase from the
//    same high-water mark.
// 3. For each N: a fresh Megaphone process (megaphone-process.ts; 200
//    sessions in and out so its code is compiled), baseline readings of
//    ejabberd and of Megaphone, N BOSH sessions logged in by a client process
//    (bosh-clients.ts) that then keeps one request held in each, idle for
//    --idle-s, readings, terminate all, wait until ejabberd has none. Then the
//    same N against mod_bosh, with ejabberd's readings.
//    Per session = (loaded - baseline) / N.
// 4. With --heap-diff, one more Megaphone phase at max(sizes), outside the
//    table: heap snapshots before and after, compared per session by what
//    holds the memory (heap-diff.ts).
// 5. Print the report (markdown tables), stop ejabberd and every child (also
//    on failure, Ctrl-C or --timeout-s).
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { join, relative } from 'node:path'
import { BenchRun } from './bench-run.js'
import type { BoshClientsStatus } from './bosh-clients.js'
import { checkClients, describe, inAndOut, runningClients, startClients, terminateClients } from './bosh-clients-parent.js'
import { PROJECT_ROOT, sleep, type Ejabberd } from '../../test/helpers/ejabberd.js'
import { delta, kib, mib, readingDetails, type Figure, type Readings } from './ejabberd-figures.js'
import { reading, type Reading } from './ejabberd-memory.js'
import { commandLine, log, markdownTable, type Child } from './harness.js'
import { megaphoneCall, megaphoneMemory, startMegaphoneProcess, stopMegaphoneProcess, waitForMegaphoneEmpty, type Megaphone } from './megaphone-child.js'
import { heapDiff, type HeapDiff, type HeapDiffRow } from './heap-diff.js'
import type { OwnerRow } from './heap-owners.js'
import type { MegaphoneMemory, MegaphoneMessage, MegaphoneRequest } from './megaphone-process.js'
import { positiveInt, readCommandLine, runOptions } from './options.js'

/**
 * At N sessions the client process holds N sockets (plus --concurrency for
 * terminations), and so does Megaphone, or ejabberd for mod_bosh: under the
 * 20,000 open files a process may have here.
 */
const MAX_SIZE = 10_000
/** Megaphone's default longest `wait` (lib/config.ts): the benchmark runs Megaphone on its defaults. */
const MAX_WAIT_SECONDS = 60
/** Sessions logged in and out of a fresh Megaphone process before its baseline: compiles the code paths. */
const MEGAPHONE_WARM_UP = 200
const MEGAPHONE_READINGS = 3
const MEGAPHONE_CALL_TIMEOUT_MS = 30_000
const HEAP_SNAPSHOT_TIMEOUT_MS = 120_000
const HEAP_DIFF_ROWS = 20
/** In the owner table: at most this many parts per owner, each at least this many bytes per session. */
const OWNER_PARTS = 6
const OWNER_PART_MIN_BYTES = 24
const CLOSE_TIMEOUT_MS = 60_000

const OPTIONS = {
  ...runOptions(1200),
  'wait-s': { type: 'string', default: '60' },
  'heap-diff': { type: 'boolean', default: false }
} as const

const HELP = `Usage: node --expose-gc dist/scripts/bench/bosh-memory.js [options]   (after: npm run build)

  --sizes N,N     session counts to measure, each <= ${MAX_SIZE} (default 1000,5000)
  --idle-s S      idle time, one request held per session, before each reading (default 5)
  --wait-s S      BOSH wait asked for at session creation, <= ${MAX_WAIT_SECONDS} (default 60)
  --concurrency C logins (and terminations) in flight at once (default 100)
  --timeout-s S   bound on the whole run (default 1200)
  --keep-state    keep .state/bench-<pid> (config, logs) after the run
  --heap-diff     then one more Megaphone phase at max(sizes) with heap snapshots before and
                  after: what Megaphone's heap holds per session, by owner, by constructor and by string
`

interface PhaseResult extends Readings {
  loginMs: number
  /** Client status after the readings. */
  status: BoshClientsStatus
  terminateMs: number
}

interface MegaphonePhaseResult extends PhaseResult {
  node: { base: MegaphoneMemory, loaded: MegaphoneMemory }
}

interface SizeResult {
  n: number
  megaphone: MegaphonePhaseResult
  modBosh: PhaseResult
}

const KiB = 1024

interface Settings { idleMs: number, waitSeconds: number, concurrency: number }

/** The child processes the run started, killed by its cleanup. */
const running: { megaphone: Child | null } = { megaphone: null }

const run = new BenchRun(() => {
  for (const { child } of [runningClients.current, running.megaphone].filter((c) => c !== null)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

// ---------------------------------------------------------------- Megaphone (child process)

async function startMegaphone (server: Ejabberd): Promise<Megaphone> {
  const megaphone = await startMegaphoneProcess(server)
  running.megaphone = megaphone
  return megaphone
}

async function call (megaphone: Megaphone, request: MegaphoneRequest): Promise<MegaphoneMessage> {
  return await megaphoneCall(megaphone, request, request.type === 'heap-snapshot' ? HEAP_SNAPSHOT_TIMEOUT_MS : MEGAPHONE_CALL_TIMEOUT_MS)
}

/** Median of a few readings of the Megaphone process, each after global.gc(). */
async function megaphoneMedianMemory (megaphone: Megaphone): Promise<MegaphoneMemory> {
  const all: MegaphoneMemory[] = []
  for (let i = 0; i < MEGAPHONE_READINGS; i++) {
    if (i > 0) await sleep(500)
    all.push(await megaphoneMemory(megaphone, { gc: true }))
  }
  const median = (key: 'rss' | 'heapUsed' | 'heapTotal' | 'external' | 'arrayBuffers'): number =>
    [...all.map((m) => m[key])].sort((a, b) => a - b)[Math.floor(all.length / 2)]!
  return {
    ...all[all.length - 1]!,
    rss: median('rss'),
    heapUsed: median('heapUsed'),
    heapTotal: median('heapTotal'),
    external: median('external'),
    arrayBuffers: median('arrayBuffers')
  }
}

async function stopMegaphone (megaphone: Megaphone): Promise<void> {
  await stopMegaphoneProcess(megaphone)
  running.megaphone = null
}

// ---------------------------------------------------------------- phases

async function expectConnected (server: Ejabberd, label: string, n: number): Promise<void> {
  const connected = await server.connectedUsers()
  if (connected !== n) throw new Error(`${label}: ejabberd has ${connected} sessions, expected ${n}`)
}

async function megaphonePhase (server: Ejabberd, n: number, settings: Settings): Promise<MegaphonePhaseResult> {
  const megaphone = await startMegaphone(server)
  await inAndOut('megaphone warm-up', megaphone.url, server, Math.min(n, MEGAPHONE_WARM_UP), settings)
  await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  const base = await run.baseline()
  const nodeBase = await megaphoneMedianMemory(megaphone)

  const clients = await startClients('megaphone', megaphone.url, server, n, settings)
  log(`megaphone: ${n} sessions logged in in ${(clients.loginMs / 1000).toFixed(1)} s; idle ${settings.idleMs / 1000} s`)
  await sleep(settings.idleMs)
  await checkClients(clients, n, 'after idle')
  const nodeLoaded = await megaphoneMedianMemory(megaphone)
  if (nodeLoaded.sessions !== n || nodeLoaded.linkSessions !== n || nodeLoaded.linkStatus !== 'ready') {
    throw new Error(`megaphone: expected ${n} sessions; it has ${nodeLoaded.sessions} BOSH sessions, ` +
      `${nodeLoaded.linkSessions} link sessions, link ${nodeLoaded.linkStatus}`)
  }
  await expectConnected(server, 'megaphone', n)
  const loaded = await reading(server)
  const status = await checkClients(clients, n, 'after the readings')
  const terminateMs = await terminateClients(server, clients, n)
  await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  await stopMegaphone(megaphone)
  return { base, loaded, loginMs: clients.loginMs, status, terminateMs, node: { base: nodeBase, loaded: nodeLoaded } }
}

async function modBoshPhase (server: Ejabberd, url: string, n: number, settings: Settings): Promise<PhaseResult> {
  const base = await run.baseline()
  const clients = await startClients('mod_bosh', url, server, n, settings)
  log(`mod_bosh: ${n} sessions logged in in ${(clients.loginMs / 1000).toFixed(1)} s; idle ${settings.idleMs / 1000} s`)
  await sleep(settings.idleMs)
  await checkClients(clients, n, 'after idle')
  await expectConnected(server, 'mod_bosh', n)
  const loaded = await reading(server)
  if (loaded.boshSessions.count !== n) throw new Error(`mod_bosh: ${loaded.boshSessions.count} ejabberd_bosh processes, expected ${n}`)
  const status = await checkClients(clients, n, 'after the readings')
  const terminateMs = await terminateClients(server, clients, n)
  return { base, loaded, loginMs: clients.loginMs, status, terminateMs }
}

/**
 * Outside the measured phases, since writing a snapshot moves RSS: a fresh
 * Megaphone, a heap snapshot, N sessions, another snapshot, compared.
 */
async function heapDiffPhase (server: Ejabberd, n: number, settings: Settings): Promise<HeapDiff> {
  const megaphone = await startMegaphone(server)
  await inAndOut('megaphone warm-up', megaphone.url, server, Math.min(n, MEGAPHONE_WARM_UP), settings)
  await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  const snapshot = async (name: string): Promise<string> => {
    const msg = await call(megaphone, { type: 'heap-snapshot', path: join(server.stateDir, `megaphone-${n}-${name}.heapsnapshot`) })
    if (msg.type !== 'heap-snapshot') throw new Error(`megaphone: heap-snapshot: unexpected ${msg.type}`)
    return msg.path
  }
  const before = await snapshot('base')
  const clients = await startClients('megaphone (heap diff)', megaphone.url, server, n, settings)
  await sleep(settings.idleMs)
  await checkClients(clients, n, 'after idle')
  const after = await snapshot('loaded')
  await terminateClients(server, clients, n)
  await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  await stopMegaphone(megaphone)
  log(`heap diff: comparing ${relative(PROJECT_ROOT, before)} and ${relative(PROJECT_ROOT, after)}`)
  return await heapDiff(before, after, n)
}

/**
 * Logs `n` sessions in and out through each path before any baseline, so that
 * ETS tables, allocator carriers and ejabberd's code paths are at the same
 * high-water mark for every phase.
 */
async function warmUp (server: Ejabberd, modBoshUrl: string, n: number, settings: Settings): Promise<void> {
  const startedAt = Date.now()
  const megaphone = await startMegaphone(server)
  await inAndOut('megaphone warm-up', megaphone.url, server, n, settings)
  await waitForMegaphoneEmpty(megaphone, CLOSE_TIMEOUT_MS)
  await stopMegaphone(megaphone)
  await inAndOut('mod_bosh warm-up', modBoshUrl, server, n, settings)
  log(`warm-up: ${n} sessions through Megaphone, then through mod_bosh, in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
}

// ---------------------------------------------------------------- report

const nodeDelta = (r: MegaphonePhaseResult, key: 'rss' | 'heapUsed' | 'external'): number => r.node.loaded[key] - r.node.base[key]

function summaryRows (r: SizeResult): string[][] {
  const { n, megaphone: m, modBosh: b } = r
  const rss = nodeDelta(m, 'rss')
  return [
    [String(n), 'Megaphone', kib(rss, n), kib(nodeDelta(m, 'heapUsed'), n), kib(nodeDelta(m, 'external'), n),
      kib(delta(m, 'total'), n), kib(delta(m, 'asIdle'), n), kib(rss + delta(m, 'total'), n), kib(rss + delta(m, 'asIdle'), n),
      String(Math.round(n / (m.loginMs / 1000)))],
    [String(n), 'mod_bosh', '-', '-', '-',
      kib(delta(b, 'total'), n), kib(delta(b, 'asIdle'), n), kib(delta(b, 'total'), n), kib(delta(b, 'asIdle'), n),
      String(Math.round(n / (b.loginMs / 1000)))]
  ]
}

function ejabberdRow (n: number, path: string, r: PhaseResult): string[] {
  const d = (figure: Figure): string => kib(delta(r, figure), n)
  const group = (g: Reading['c2s']): string => (g.count === 0 ? '-' : kib(g.bytes, n))
  return [String(n), path, d('total'), d('asIdle'), d('processes'), d('ets'), d('binary'), d('otherSystem'), d('driverAlloc'),
    group(r.loaded.c2s), group(r.loaded.linkSessions), group(r.loaded.boshSessions), group(r.loaded.httpConnections)]
}

function ratio (a: number, b: number): string {
  return `${(a / b).toFixed(2)} (${(a / KiB).toFixed(1)} / ${(b / KiB).toFixed(1)})`
}

function ratioLine (r: SizeResult): string {
  const { n, megaphone: m, modBosh: b } = r
  const rss = nodeDelta(m, 'rss')
  const per = (bytes: number): number => bytes / n
  return `  N = ${String(n).padStart(5)}: Megaphone RSS + ejabberd: total ${ratio(per(rss + delta(m, 'total')), per(delta(b, 'total')))}, ` +
    `as idle ${ratio(per(rss + delta(m, 'asIdle')), per(delta(b, 'asIdle')))}; ejabberd alone: total ${
      ratio(per(delta(m, 'total')), per(delta(b, 'total')))}, as idle ${ratio(per(delta(m, 'asIdle')), per(delta(b, 'asIdle')))}`
}

function nodeDetail (r: SizeResult): string {
  const m = (x: MegaphoneMemory): string =>
    `RSS ${mib(x.rss)}, heap ${mib(x.heapUsed)} used / ${mib(x.heapTotal)} total, external ${mib(x.external)} MiB`
  const { base, loaded } = r.megaphone.node
  return `  N = ${String(r.n).padStart(5)}: baseline ${m(base)}; loaded ${m(loaded)}; ${loaded.sessions} sessions, ${loaded.connections} HTTP connections` +
    (loaded.collected ? '' : ' (NO global.gc in the Megaphone process)')
}

function clientDetail (r: SizeResult): string[] {
  const line = (path: string, p: PhaseResult): string =>
    `  N = ${String(r.n).padStart(5)} ${path.padEnd(9)}: logins ${(p.loginMs / 1000).toFixed(1)} s; after the readings ${describe(p.status)}; ` +
    `terminated in ${(p.terminateMs / 1000).toFixed(1)} s`
  return [line('Megaphone', r.megaphone), line('mod_bosh', r.modBosh)]
}

interface Meta { command: string, version: string, settings: Settings, warmUpN: number, heap: HeapDiff | null }

/** The commit measured, and which of the folders whose code runs the work tree changes. */
function megaphoneRevision (): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 10_000 }).trim()
    const changed = ['lib', 'routes', 'scripts/bench'].filter((dir) => git('status', '--porcelain', '--', dir) !== '')
    return `${git('rev-parse', '--short', 'HEAD')}${changed.length > 0 ? ` (work tree changes in ${changed.join(', ')})` : ''}`
  } catch {
    return 'unknown (no git)'
  }
}

function heapRows (rows: HeapDiffRow[]): string[][] {
  return rows.slice(0, HEAP_DIFF_ROWS).map((r) => [r.key.replaceAll('|', '\\|'), r.countPerSession.toFixed(2), r.bytesPerSession.toFixed(0)])
}

/** Owners with their largest parts, down to OWNER_PART_MIN_BYTES each. */
function ownerRows (rows: OwnerRow[]): string[][] {
  return rows.filter((r) => Math.abs(r.bytesPerSession) >= 1).map((r) => [
    r.owner,
    r.parts.filter((p) => p.bytesPerSession >= OWNER_PART_MIN_BYTES).slice(0, OWNER_PARTS)
      .map((p) => `${p.kind.replace(/^(object|closure|synthetic|native): /, '')} ${p.bytesPerSession.toFixed(0)}`).join(', '),
    r.bytesPerSession.toFixed(0)
  ])
}

function heapSection (heap: HeapDiff | null, n: number): string[] {
  if (heap === null) return []
  return [
    '',
    `## Megaphone heap per session, by what holds it (--heap-diff, N = ${n}, a phase of its own)`,
    '',
    `Heap snapshots after global.gc(), before and after N sessions: ${heap.bytesPerSession.toFixed(0)} bytes per session in all.`,
    '',
    'By owner: each new object charged to its nearest owner in the dominator tree (heap-owners.ts), bytes per session:',
    '',
    ...markdownTable([['owner', 'largest parts (bytes)', 'bytes'], ...ownerRows(heap.owners)], 2),
    '',
    'By type and constructor:',
    '',
    ...markdownTable([['type: constructor', 'count', 'bytes'], ...heapRows(heap.byName)], 1),
    '',
    'Strings (digits shown as #, sids as <sid>, first 100 characters):',
    '',
    ...markdownTable([['string', 'count', 'bytes'], ...heapRows(heap.strings)], 1)
  ]
}

function report (results: SizeResult[], meta: Meta): string {
  const cpus = os.cpus()
  const { idleMs, waitSeconds, concurrency } = meta.settings
  return [
    '# Megaphone BOSH memory benchmark',
    '',
    '```',
    `date:      ${new Date().toISOString()}`,
    `command:   npm run build && ${meta.command}`,
    `machine:   ${cpus.length} x ${cpus[0]?.model ?? '?'}; ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `node:      ${process.version}`,
    `ejabberd:  ${meta.version}`,
    `megaphone: ${megaphoneRevision()}`,
    `method:    warm-up of ${meta.warmUpN} sessions through each path; then per N: a fresh Megaphone process`,
    `           (${MEGAPHONE_WARM_UP} sessions in and out first), baseline, N BOSH sessions (hold 1, wait ${waitSeconds}, SASL PLAIN,`,
    '           bind, initial presence; one empty request held each), idle ' + `${idleMs / 1000} s, reading, terminate; then the`,
    `           same N through mod_bosh. ${concurrency} logins in flight. ejabberd readings: caches cleared, every process`,
    '           GCed until memory stops shrinking, erlang:memory(), median of 5. Megaphone: process.memoryUsage()',
    `           after global.gc(), median of ${MEGAPHONE_READINGS}.`,
    '```',
    '',
    '## Memory per idle BOSH session, KiB ((loaded - baseline) / N)',
    '',
    ...markdownTable([
      ['N', 'path', 'Megaphone RSS', 'Megaphone heap', 'Megaphone external', 'ejabberd total', 'ejabberd as idle',
        'sum: RSS + total', 'sum: RSS + as idle', 'logins/s'],
      ...results.flatMap(summaryRows)
    ]),
    '',
    '- *Megaphone RSS / heap / external*: the Megaphone process (process.memoryUsage() rss, heapUsed, external) after global.gc().',
    '- *ejabberd total*: processes_used + system after the GC (erlang:memory(total) less free blocks in process pools).',
    '- *ejabberd as idle*: erlang:memory(total) before any forced GC, as ejabberd left the sessions, less the baseline.',
    '- *sum*: what one session costs both servers; for mod_bosh, ejabberd alone.',
    '',
    'Ratio Megaphone / mod_bosh per session (KiB / KiB):',
    '',
    '```',
    ...results.map(ratioLine),
    '```',
    '',
    '## ejabberd per idle BOSH session, KiB',
    '',
    ...markdownTable([
      ['N', 'path', 'total', 'as idle', 'processes', 'ets', 'binary', 'other', '(driver)', 'c2s proc', 'link proc', 'bosh proc', 'http proc'],
      ...results.flatMap((r) => [ejabberdRow(r.n, 'Megaphone', r.megaphone), ejabberdRow(r.n, 'mod_bosh', r.modBosh)])
    ]),
    '',
    '- *processes*: processes_used; *other*: system less ets and binary (ports, driver buffers, allocator overhead);',
    '  *(driver)*: driver_alloc blocks, part of other: the port drivers\' state (each TCP socket\'s inet driver).',
    '- *c2s / link / bosh / http proc*: process_info(P, memory) after the GC, summed over the loaded reading / N, of the',
    '  sessions\' ejabberd_c2s, megaphone_session, ejabberd_bosh and ejabberd_http (one per HTTP connection) processes.',
    '',
    '## Details',
    '',
    '```',
    'Megaphone process (MiB):',
    ...results.map(nodeDetail),
    'clients:',
    ...results.flatMap(clientDetail),
    'ejabberd readings (erlang:memory(total) before -> after the forced GC; per session process, before -> after):',
    ...readingDetails(results, [['Megaphone', (r) => r.megaphone], ['mod_bosh', (r) => r.modBosh]],
      ['c2s', 'linkSessions', 'boshSessions', 'httpConnections']),
    '```',
    ...heapSection(meta.heap, meta.warmUpN)
  ].join('\n')
}

// ---------------------------------------------------------------- main

run.main(async () => {
  const cli = readCommandLine(OPTIONS, HELP, MAX_SIZE)
  if (cli === null) return
  const { args, settings: { sizes, idleMs, concurrency } } = cli
  const settings: Settings = { idleMs, waitSeconds: positiveInt('wait-s', String(args['wait-s']), MAX_WAIT_SECONDS), concurrency }
  run.begin(cli.settings)
  const maxN = Math.max(...sizes)
  const { server, version } = await run.startEjabberd(maxN)
  const modBoshUrl = `http://127.0.0.1:${server.httpPort}/http-bind`
  await warmUp(server, modBoshUrl, maxN, settings)

  const results: SizeResult[] = []
  for (const n of sizes) {
    const megaphone = await megaphonePhase(server, n, settings)
    const modBosh = await modBoshPhase(server, modBoshUrl, n, settings)
    results.push({ n, megaphone, modBosh })
  }
  const heap = args['heap-diff'] === true ? await heapDiffPhase(server, maxN, settings) : null
  await run.finish(report(results, { command: commandLine(), version, settings, warmUpN: maxN, heap }))
})
