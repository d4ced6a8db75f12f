// Benchmark: ejabberd's memory per idle session when the sessions come over
// Megaphone's link, against the same sessions as plain c2s over TCP, in one run
// against one private ejabberd on loopback (docs/bench-link-memory.md).
//
//   npm run build && node --expose-gc dist/scripts/bench/link-memory.js [--sizes 1000,5000]
//
// 1. Start ejabberd in .state/bench-<pid> on free ports, register the users.
// 2. Warm up: max(sizes) sessions over the link, then over TCP, logged in and
//    out, so that every phase starts from the same high-water mark.
// 3. For each N: baseline reading; N sessions over one Link, each logged in
//    (SASL PLAIN, bind, initial presence), idle for --idle-s (they hibernate
//    after 2 s); reading; close, wait until ejabberd has none. Then the same
//    with N plain TCP clients, run in a child process (c2s-clients.ts).
//    Per session = (loaded - baseline) / N. A reading (ejabberd-memory.ts)
//    clears ejabberd's caches, GCs every process and reads erlang:memory().
//    For the link, also this Node process's heap and RSS, after global.gc().
// 4. Print the table, stop ejabberd (also on failure, Ctrl-C or --timeout-s).
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { Link } from '../../lib/link/link.js'
import type { C2sChildMessage, C2sClientsOptions } from './c2s-clients.js'
import {
  PROJECT_ROOT, connectedUsers, registerBulk, sleep, startEjabberd, stopEjabberd, waitForSessions,
  type BenchEjabberd
} from './ejabberd-control.js'
import { ejabberdVersion, reading, type Reading } from './ejabberd-memory.js'
import { childScript, commandLine, log, nextMessage, positiveInt, textTable, withTimeout } from './harness.js'
import { BenchLinkSession } from './link-session.js'
import { pool } from './pool.js'

const USER_PREFIX = 'bench'
const PASSWORD = 'bench-password'
const MAX_SIZE = 5_000 // each c2s client and its ejabberd socket count against a 20,000-file limit
const LINK_READY_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 60_000
const LOGIN_TIMEOUT_MS = 30_000
const CHILD_EXIT_TIMEOUT_MS = 10_000
/** Login phase: a fixed allowance plus a per-session one. */
const loginTimeoutMs = (n: number): number => 60_000 + 30 * n

const OPTIONS = {
  sizes: { type: 'string', default: '1000,5000' },
  'idle-s': { type: 'string', default: '5' },
  concurrency: { type: 'string', default: '100' },
  'timeout-s': { type: 'string', default: '600' },
  'keep-state': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

const HELP = `Usage: node --expose-gc dist/scripts/bench/link-memory.js [options]   (after: npm run build)

  --sizes N,N     session counts to measure, each <= ${MAX_SIZE} (default 1000,5000)
  --idle-s S      idle time before each reading; sessions hibernate after 2 s (default 5)
  --concurrency C logins in flight at once, on each side (default 100)
  --timeout-s S   bound on the whole run (default 600)
  --keep-state    keep .state/bench-<pid> (config, logs) after the run
`

interface NodeMemory { heapUsed: number, rss: number }

interface SizeResult {
  n: number
  link: { base: Reading, loaded: Reading, loginMs: number, node: NodeMemory }
  c2s: { base: Reading, loaded: Reading, loginMs: number }
}

const KiB = 1024
/** Processes on the idle server before any session: a baseline waits until ended sessions' processes are gone. */
let idleProcessCount = Infinity
const PROCESS_SLACK = 10
const gc = (globalThis as { gc?: () => void }).gc

function nodeMemory (): NodeMemory {
  // Twice: the first pass can leave finalizer-held objects for the second.
  gc?.()
  gc?.()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

/** Everything the run started, stopped once whatever happens. */
const running: { link: Link | null, child: ChildProcess | null, stateDir: string | null, keep: boolean } =
  { link: null, child: null, stateDir: null, keep: false }
let cleaningUp: Promise<void> | null = null

async function cleanup (): Promise<void> {
  cleaningUp ??= (async () => {
    if (running.child !== null && running.child.exitCode === null) running.child.kill('SIGKILL')
    await running.link?.close().catch(() => undefined)
    if (running.stateDir !== null) {
      log(`stopping ejabberd (${relative(PROJECT_ROOT, running.stateDir)})`)
      await stopEjabberd(running.stateDir, running.keep).catch((err: unknown) => log(`stop failed: ${String(err)}`))
    }
  })()
  await cleaningUp
}

/** A reading with no session open: first waits for the processes of ended sessions to exit. */
async function baseline (stateDir: string): Promise<Reading> {
  return await reading(stateDir, { maxProcesses: idleProcessCount + PROCESS_SLACK })
}

// ---------------------------------------------------------------- link sessions

async function openLinkSessions (server: BenchEjabberd, link: Link, n: number, concurrency: number): Promise<{ sessions: BenchLinkSession[], loginMs: number }> {
  const sessions: BenchLinkSession[] = []
  const startedAt = Date.now()
  await withTimeout(`link: ${n} logins`, loginTimeoutMs(n), pool(n, concurrency, async (i) => {
    sessions.push(await BenchLinkSession.login(link, {
      domain: server.domain, user: `${USER_PREFIX}${i + 1}`, password: PASSWORD, timeoutMs: LOGIN_TIMEOUT_MS
    }))
  }))
  return { sessions, loginMs: Date.now() - startedAt }
}

/** Ends every session (`close <id> normal`) and waits until ejabberd has none. */
async function closeLinkSessions (server: BenchEjabberd, sessions: BenchLinkSession[]): Promise<void> {
  for (const session of sessions) session.end()
  await waitForSessions(server.stateDir, 0, CLOSE_TIMEOUT_MS)
}

async function linkPhase (server: BenchEjabberd, link: Link, n: number, idleMs: number, concurrency: number): Promise<SizeResult['link']> {
  const base = await baseline(server.stateDir)
  const nodeBase = nodeMemory()
  const { sessions, loginMs } = await openLinkSessions(server, link, n, concurrency)
  log(`link: ${n} sessions logged in in ${(loginMs / 1000).toFixed(1)} s; idle ${idleMs / 1000} s`)
  await sleep(idleMs)
  const lost = sessions.filter((s) => s.closedReason !== null).length
  if (lost > 0 || link.status !== 'ready') throw new Error(`link: ${lost} sessions ended while idle (link ${link.status})`)
  const nodeLoaded = nodeMemory()
  const connected = await connectedUsers(server.stateDir)
  if (connected !== n) throw new Error(`link: ejabberd has ${connected} sessions, expected ${n}`)
  const loaded = await reading(server.stateDir)
  await closeLinkSessions(server, sessions)
  return {
    base,
    loaded,
    loginMs,
    node: { heapUsed: nodeLoaded.heapUsed - nodeBase.heapUsed, rss: nodeLoaded.rss - nodeBase.rss }
  }
}

// ---------------------------------------------------------------- c2s over TCP (child process)

interface C2sClients { child: ChildProcess, exited: Promise<void>, loginMs: number }

async function startC2sClients (server: BenchEjabberd, n: number, concurrency: number): Promise<C2sClients> {
  const opts: C2sClientsOptions = {
    host: '127.0.0.1',
    port: server.c2sPort,
    domain: server.domain,
    prefix: USER_PREFIX,
    count: n,
    password: PASSWORD,
    concurrency,
    loginTimeoutMs: LOGIN_TIMEOUT_MS
  }
  const child = fork(childScript('c2s-clients'), [JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  running.child = child
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = await nextMessage<C2sChildMessage>(child, loginTimeoutMs(n), `c2s: ${n} logins`)
  if (ready.type !== 'ready') throw new Error(`c2s: ${ready.type === 'error' ? ready.message : ready.type}`)
  return { child, exited, loginMs: ready.loginMs }
}

/** Tells the child to end every stream, waits for it to exit and for ejabberd to have no session. */
async function stopC2sClients (server: BenchEjabberd, { child, exited }: C2sClients): Promise<void> {
  child.send({ type: 'close' })
  const closed = await nextMessage<C2sChildMessage>(child, CLOSE_TIMEOUT_MS, 'c2s: close')
  if (closed.type !== 'closed') throw new Error(`c2s: close: ${closed.type === 'error' ? closed.message : closed.type}`)
  await withTimeout('c2s: child exit', CHILD_EXIT_TIMEOUT_MS, exited)
  running.child = null
  await waitForSessions(server.stateDir, 0, CLOSE_TIMEOUT_MS)
}

async function c2sPhase (server: BenchEjabberd, n: number, idleMs: number, concurrency: number): Promise<SizeResult['c2s']> {
  const base = await baseline(server.stateDir)
  const clients = await startC2sClients(server, n, concurrency)
  log(`c2s: ${n} sessions logged in in ${(clients.loginMs / 1000).toFixed(1)} s; idle ${idleMs / 1000} s`)
  await sleep(idleMs)
  const connected = await connectedUsers(server.stateDir)
  if (connected !== n) throw new Error(`c2s: ejabberd has ${connected} sessions, expected ${n}`)
  const loaded = await reading(server.stateDir)
  await stopC2sClients(server, clients)
  return { base, loaded, loginMs: clients.loginMs }
}

/**
 * Logs `n` sessions in and out once each way before any baseline, so that
 * ETS tables, allocator carriers and ejabberd's code paths are at the same
 * high-water mark for every phase: otherwise the first phase pays for growth
 * that the later ones get for free.
 */
async function warmUp (server: BenchEjabberd, link: Link, n: number, concurrency: number): Promise<void> {
  const startedAt = Date.now()
  const { sessions } = await openLinkSessions(server, link, n, concurrency)
  await closeLinkSessions(server, sessions)
  await stopC2sClients(server, await startC2sClients(server, n, concurrency))
  log(`warm-up: ${n} sessions over the link, then over TCP, in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
}

// ---------------------------------------------------------------- report

const kib = (bytes: number, n: number): string => (bytes / n / KiB).toFixed(1)
type Figure = 'total' | 'asIdle' | 'processes' | 'ets' | 'binary' | 'otherSystem' | 'driverAlloc'

/** Bytes the loaded reading holds over its baseline. "As idle" compares erlang:memory(total) before the forced GC with the baseline after it. */
function delta (base: Reading, loaded: Reading, figure: Figure): number {
  if (figure === 'asIdle') return loaded.totalBeforeGc - base.allocated
  return loaded[figure] - base[figure]
}

function perSessionRow (n: number, side: string, base: Reading, loaded: Reading, loginMs: number): string[] {
  const d = (figure: Figure): string => kib(delta(base, loaded, figure), n)
  return [String(n), side, d('total'), d('asIdle'), d('processes'), d('ets'), d('binary'), d('otherSystem'), d('driverAlloc'),
    kib(loaded.c2s.bytes, n), kib(loaded.linkSessions.bytes, n), String(Math.round(n / (loginMs / 1000)))]
}

function ratioLine (r: SizeResult, figure: Figure): string {
  const link = delta(r.link.base, r.link.loaded, figure)
  const c2s = delta(r.c2s.base, r.c2s.loaded, figure)
  return `${(link / c2s).toFixed(2)} (${kib(link, r.n)} / ${kib(c2s, r.n)} KiB)`
}

function detail (label: string, m: Reading): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1)
  const each = (g: Reading['c2s']): string =>
    g.count === 0 ? '-' : `${g.count} x ${kib(g.bytesBeforeGc, g.count)} -> ${kib(g.bytes, g.count)} KiB (${g.hibernated} hibernated)`
  return `  ${label.padEnd(17)} ${mib(m.totalBeforeGc)} -> ${mib(m.allocated)} MiB allocated, ${mib(m.total)} used; ` +
    `${m.processCount} processes, ${m.portCount} ports; median of ${m.readings}${m.settled ? '' : ' (ended sessions\' processes still running)'}; ` +
    `${m.gcRounds} GC rounds; c2s ${each(m.c2s)}; megaphone_session ${each(m.linkSessions)}`
}

function report (results: SizeResult[], meta: { command: string, version: string, idleMs: number, warmUpN: number }): string {
  const cpus = os.cpus()
  return [
    'Megaphone link memory benchmark',
    `date:      ${new Date().toISOString()}`,
    `command:   npm run build && ${meta.command}`,
    `ejabberd:  ${meta.version}`,
    `node:      ${process.version}; ${cpus.length} x ${cpus[0]?.model ?? '?'}; ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `method:    warm-up of ${meta.warmUpN} sessions each way; then per N and transport: baseline, N sessions idle`,
    `           ${meta.idleMs / 1000} s, reading. A reading clears ejabberd's caches, GCs every process in rounds until`,
    '           their memory stops shrinking, reads erlang:memory(); figures are the median of 5 readings.',
    '',
    'ejabberd memory per idle session, KiB ((loaded - baseline) / N)',
    ...textTable([
      ['N', 'transport', 'total', 'as idle', 'processes', 'ets', 'binary', 'other', '(driver)', 'c2s proc', 'link proc', 'logins/s'],
      ...results.flatMap((r) => [
        perSessionRow(r.n, 'link', r.link.base, r.link.loaded, r.link.loginMs),
        perSessionRow(r.n, 'c2s over TCP', r.c2s.base, r.c2s.loaded, r.c2s.loginMs)
      ])
    ]),
    '  total      processes_used + system after the GC (erlang:memory(total) less free blocks in process pools)',
    '  as idle    erlang:memory(total) before any forced GC, as ejabberd left the sessions, less the baseline',
    '  processes  processes_used; other: system less ets and binary (ports, driver buffers, allocator overhead)',
    '  (driver)   driver_alloc blocks, part of other: the port drivers\' state (each TCP socket\'s inet driver)',
    '  c2s proc, link proc: process_info(P, memory) of the sessions\' ejabberd_c2s and megaphone_session, summed / N',
    '',
    'ratio link / c2s over TCP, ejabberd memory per session:',
    ...results.map((r) => `  N = ${String(r.n).padStart(5)}: total ${ratioLine(r, 'total')}; as idle ${ratioLine(r, 'asIdle')}`),
    '',
    `Megaphone process (this Node process: the Link plus one benchmark session object per session), per link session${
      gc === undefined ? ' (NO global.gc: run node with --expose-gc)' : ', after global.gc()'}:`,
    ...results.map((r) => `  N = ${String(r.n).padStart(5)}: heap used ${kib(r.link.node.heapUsed, r.n)} KiB, RSS ${kib(r.link.node.rss, r.n)} KiB`),
    '',
    'readings (erlang:memory(total) before -> after the forced GC; per session process, before -> after):',
    ...results.flatMap((r) => [
      detail(`N=${r.n} link base`, r.link.base),
      detail(`N=${r.n} link loaded`, r.link.loaded),
      detail(`N=${r.n} c2s base`, r.c2s.base),
      detail(`N=${r.n} c2s loaded`, r.c2s.loaded)
    ])
  ].join('\n')
}

// ---------------------------------------------------------------- main

async function main (): Promise<void> {
  const { values: args } = parseArgs({ options: OPTIONS })
  if (args.help) {
    process.stdout.write(HELP)
    return
  }
  const sizes = String(args.sizes).split(',').map((s) => positiveInt('sizes', s.trim(), MAX_SIZE))
  const idleMs = positiveInt('idle-s', String(args['idle-s'])) * 1000
  const concurrency = positiveInt('concurrency', String(args.concurrency))
  const timeoutMs = positiveInt('timeout-s', String(args['timeout-s'])) * 1000
  running.keep = args['keep-state'] === true
  const command = commandLine()
  if (gc === undefined) log('global.gc is not available: Node heap figures are without a forced GC (run node with --expose-gc)')

  const watchdog = setTimeout(() => {
    log(`the run took over ${timeoutMs / 1000} s: giving up`)
    running.keep = true
    cleanup().finally(() => process.exit(1))
  }, timeoutMs)
  watchdog.unref()

  const stateDir = join(PROJECT_ROOT, '.state', `bench-${process.pid}`)
  running.stateDir = stateDir
  log(`starting ejabberd in ${relative(PROJECT_ROOT, stateDir)}`)
  const server = await startEjabberd(stateDir, process.pid)
  const version = await ejabberdVersion(stateDir)
  const maxN = Math.max(...sizes)
  log(`${version}; registering ${maxN} users`)
  await registerBulk(stateDir, USER_PREFIX, maxN, PASSWORD)

  const link = new Link({ host: '127.0.0.1', port: server.linkPort, secret: server.secret })
  running.link = link
  link.start()
  await link.waitReady(LINK_READY_TIMEOUT_MS)

  idleProcessCount = (await reading(stateDir, { count: 1 })).processCount
  await warmUp(server, link, maxN, concurrency)

  const results: SizeResult[] = []
  for (const n of sizes) {
    const linkResult = await linkPhase(server, link, n, idleMs, concurrency)
    const c2sResult = await c2sPhase(server, n, idleMs, concurrency)
    results.push({ n, link: linkResult, c2s: c2sResult })
  }
  const text = report(results, { command, version, idleMs, warmUpN: maxN })
  await cleanup()
  clearTimeout(watchdog)
  process.stdout.write(`${text}\n`)
}

/** Set on SIGINT/SIGTERM: the phase that fails because of the cleanup is not reported as a failure. */
let interrupted = false

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true
    log(`${signal}: stopping`)
    cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  })
}

main().catch(async (err: unknown) => {
  if (interrupted) return
  log(`failed: ${err instanceof Error ? err.message : String(err)}`)
  running.keep = true
  await cleanup()
  if (running.stateDir !== null) log(`state (config, logs) kept in ${relative(PROJECT_ROOT, running.stateDir)}`)
  process.exit(1)
})
