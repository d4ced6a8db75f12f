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
import os from 'node:os'
import { Link } from '../../lib/link/link.js'
import { LinkClient } from '../clients/link.js'
import { BenchRun, PASSWORD, USER_PREFIX } from './bench-run.js'
import type { C2sChildMessage, C2sClientsOptions } from './c2s-clients.js'
import { sleep, type Ejabberd } from '../../test/helpers/ejabberd.js'
import { delta, kib, readingDetails, type Figure, type Readings } from './ejabberd-figures.js'
import { reading, type Reading } from './ejabberd-memory.js'
import { commandLine, forkChild, log, nextMessage, textTable, withTimeout, type Child } from './harness.js'
import { readCommandLine, runOptions } from './options.js'
import { pool } from './pool.js'

const MAX_SIZE = 5_000 // each c2s client and its ejabberd socket count against a 20,000-file limit
const LINK_READY_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 60_000
const LOGIN_TIMEOUT_MS = 30_000
const CHILD_EXIT_TIMEOUT_MS = 10_000
/** Login phase: a fixed allowance plus a per-session one. */
const loginTimeoutMs = (n: number): number => 60_000 + 30 * n

const OPTIONS = runOptions(600)

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

const gc = (globalThis as { gc?: () => void }).gc

function nodeMemory (): NodeMemory {
  // Twice: the first pass can leave finalizer-held objects for the second.
  gc?.()
  gc?.()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

/** What the run started besides ejabberd, stopped by its cleanup. */
const running: { link: Link | null, child: Child | null } = { link: null, child: null }

const run = new BenchRun(async () => {
  const child = running.child?.child
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL')
  await running.link?.close().catch(() => undefined)
})

// ---------------------------------------------------------------- link sessions

async function openLinkSessions (server: Ejabberd, link: Link, n: number, concurrency: number): Promise<{ sessions: LinkClient[], loginMs: number }> {
  const sessions: LinkClient[] = []
  const startedAt = Date.now()
  await withTimeout(`link: ${n} logins`, loginTimeoutMs(n), pool(n, concurrency, async (i) => {
    const session = new LinkClient(link)
    await session.login(`${USER_PREFIX}${i + 1}`, PASSWORD, server.domain, 'bench', LOGIN_TIMEOUT_MS)
    sessions.push(session)
  }))
  return { sessions, loginMs: Date.now() - startedAt }
}

/** Ends every session (`close <id> normal`) and waits until ejabberd has none. */
async function closeLinkSessions (server: Ejabberd, sessions: LinkClient[]): Promise<void> {
  for (const session of sessions) session.end()
  await server.waitForConnected(0, CLOSE_TIMEOUT_MS)
}

async function linkPhase (server: Ejabberd, link: Link, n: number, idleMs: number, concurrency: number): Promise<SizeResult['link']> {
  const base = await run.baseline()
  const nodeBase = nodeMemory()
  const { sessions, loginMs } = await openLinkSessions(server, link, n, concurrency)
  log(`link: ${n} sessions logged in in ${(loginMs / 1000).toFixed(1)} s; idle ${idleMs / 1000} s`)
  await sleep(idleMs)
  const lost = sessions.filter((s) => s.closedReason !== null).length
  if (lost > 0 || link.status !== 'ready') throw new Error(`link: ${lost} sessions ended while idle (link ${link.status})`)
  const nodeLoaded = nodeMemory()
  const connected = await server.connectedUsers()
  if (connected !== n) throw new Error(`link: ejabberd has ${connected} sessions, expected ${n}`)
  const loaded = await reading(server)
  await closeLinkSessions(server, sessions)
  return {
    base,
    loaded,
    loginMs,
    node: { heapUsed: nodeLoaded.heapUsed - nodeBase.heapUsed, rss: nodeLoaded.rss - nodeBase.rss }
  }
}

// ---------------------------------------------------------------- c2s over TCP (child process)

interface C2sClients extends Child { loginMs: number }

async function startC2sClients (server: Ejabberd, n: number, concurrency: number): Promise<C2sClients> {
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
  const { child, exited } = running.child = forkChild('c2s-clients', [JSON.stringify(opts)])
  const ready = await nextMessage<C2sChildMessage>(child, loginTimeoutMs(n), `c2s: ${n} logins`)
  if (ready.type !== 'ready') throw new Error(`c2s: ${ready.type === 'error' ? ready.message : ready.type}`)
  return { child, exited, loginMs: ready.loginMs }
}

/** Tells the child to end every stream, waits for it to exit and for ejabberd to have no session. */
async function stopC2sClients (server: Ejabberd, { child, exited }: C2sClients): Promise<void> {
  child.send({ type: 'close' })
  const closed = await nextMessage<C2sChildMessage>(child, CLOSE_TIMEOUT_MS, 'c2s: close')
  if (closed.type !== 'closed') throw new Error(`c2s: close: ${closed.type === 'error' ? closed.message : closed.type}`)
  await withTimeout('c2s: child exit', CHILD_EXIT_TIMEOUT_MS, exited)
  running.child = null
  await server.waitForConnected(0, CLOSE_TIMEOUT_MS)
}

async function c2sPhase (server: Ejabberd, n: number, idleMs: number, concurrency: number): Promise<SizeResult['c2s']> {
  const base = await run.baseline()
  const clients = await startC2sClients(server, n, concurrency)
  log(`c2s: ${n} sessions logged in in ${(clients.loginMs / 1000).toFixed(1)} s; idle ${idleMs / 1000} s`)
  await sleep(idleMs)
  const connected = await server.connectedUsers()
  if (connected !== n) throw new Error(`c2s: ejabberd has ${connected} sessions, expected ${n}`)
  const loaded = await reading(server)
  await stopC2sClients(server, clients)
  return { base, loaded, loginMs: clients.loginMs }
}

/**
 * Logs `n` sessions in and out once each way before any baseline, so that
 * ETS tables, allocator carriers and ejabberd's code paths are at the same
 * high-water mark for every phase: otherwise the first phase pays for growth
 * that the later ones get for free.
 */
async function warmUp (server: Ejabberd, link: Link, n: number, concurrency: number): Promise<void> {
  const startedAt = Date.now()
  const { sessions } = await openLinkSessions(server, link, n, concurrency)
  await closeLinkSessions(server, sessions)
  await stopC2sClients(server, await startC2sClients(server, n, concurrency))
  log(`warm-up: ${n} sessions over the link, then over TCP, in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
}

// ---------------------------------------------------------------- report

function perSessionRow (n: number, side: string, r: Readings & { loginMs: number }): string[] {
  const d = (figure: Figure): string => kib(delta(r, figure), n)
  return [String(n), side, d('total'), d('asIdle'), d('processes'), d('ets'), d('binary'), d('otherSystem'), d('driverAlloc'),
    kib(r.loaded.c2s.bytes, n), kib(r.loaded.linkSessions.bytes, n), String(Math.round(n / (r.loginMs / 1000)))]
}

function ratioLine (r: SizeResult, figure: Figure): string {
  const link = delta(r.link, figure)
  const c2s = delta(r.c2s, figure)
  return `${(link / c2s).toFixed(2)} (${kib(link, r.n)} / ${kib(c2s, r.n)} KiB)`
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
        perSessionRow(r.n, 'link', r.link),
        perSessionRow(r.n, 'c2s over TCP', r.c2s)
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
    ...readingDetails(results, [['link', (r) => r.link], ['c2s', (r) => r.c2s]], ['c2s', 'linkSessions'])
  ].join('\n')
}

// ---------------------------------------------------------------- main

run.main(async () => {
  const cli = readCommandLine(OPTIONS, HELP, MAX_SIZE)
  if (cli === null) return
  const { sizes, idleMs, concurrency } = cli.settings
  if (gc === undefined) log('global.gc is not available: Node heap figures are without a forced GC (run node with --expose-gc)')
  run.begin(cli.settings)
  const maxN = Math.max(...sizes)
  const { server, version } = await run.startEjabberd(maxN)
  const link = new Link({ host: '127.0.0.1', port: server.linkPort, secret: server.secret })
  running.link = link
  link.start()
  await link.waitReady(LINK_READY_TIMEOUT_MS)
  await warmUp(server, link, maxN, concurrency)

  const results: SizeResult[] = []
  for (const n of sizes) {
    const linkResult = await linkPhase(server, link, n, idleMs, concurrency)
    const c2sResult = await c2sPhase(server, n, idleMs, concurrency)
    results.push({ n, link: linkResult, c2s: c2sResult })
  }
  await run.finish(report(results, { command: commandLine(), version, idleMs, warmUpN: maxN }))
})
