// Benchmark: BOSH under load, driven by tsung (Debian's tsung 1.7), through
// Megaphone (its Node process plus ejabberd behind the link) and through
// ejabberd's own mod_bosh, in one run against one private ejabberd on
// loopback (docs/bench-load.md).
//
//   npm run build && node dist/scripts/bench/load.js [--users 1000] [--rates 1000,2000]
//
// 1. Start ejabberd in .state/bench-<pid> on free ports with --users users,
//    and Megaphone in a process of its own (megaphone-child.ts).
// 2. Steps: each offered message rate, then a burst. Each step runs tsung
//    once per side, the two sides alternating (A B, then B A) so that the
//    machine's drift hits both. One tsung run: the users log in, chat at the
//    step's rate for --step-s (tsung-config.ts), and log out.
// 3. Then the cheapest request, once per side: BOSH bodies for a session that
//    does not exist, answered at once, from --empty-users connections for
//    --empty-s seconds, posted by wrk (Debian's wrk, one thread: far
//    lighter than tsung, which would saturate before the server does).
// 4. For each run: delivered msg/s over the intervals in which every user was
//    chatting; message latency (every message's, from tsung's stamps);
//    the time a request on a fresh connection takes meanwhile (fresh-probe.ts);
//    tsung's errors by kind and Megaphone's closed sessions by condition; CPU
//    seconds of every process (Node, ejabberd, and tsung itself, which shares
//    the two cores) from /proc over those same intervals, per delivered message.
// 5. Print the report (markdown), stop everything (also on failure, Ctrl-C or
//    --timeout-s).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, relative } from 'node:path'
import { PROJECT_ROOT, type Ejabberd } from '../../test/helpers/ejabberd.js'
import { BenchRun, PASSWORD, USER_PREFIX } from './bench-run.js'
import { commandLine, log, markdownTable } from './harness.js'
import { startMegaphoneProcess, stopMegaphoneProcess, type Megaphone } from './megaphone-child.js'
import { positiveInt } from './options.js'
import { ejabberdOsPid } from './ejabberd-memory.js'
import { FreshProbe } from './fresh-probe.js'
import { CpuSampler, nearestSample, processTree } from './proc-stat.js'
import { chatConfig, usersCsv, type Target } from './tsung-config.js'
import { parseWrk, wrkScript } from './wrk.js'
import { INTERVAL_SECONDS, errorsByKind, fullstatsSamples, parseTsungLog, percentile, spanOf, tsungEnv, type Interval } from './tsung-results.js'
import { parseArgs } from 'node:util'

/**
 * Each user has two connections open (BOSH's two requests), tsung holds both
 * ends' counterparts: under the 20,000 open files a process may have here.
 */
const MAX_USERS = 9000
/** After its login, each user waits this long plus the arrival spread: every user is online before the first message. */
const SETTLE_EXTRA_SECONDS = 3
/** --arrival-s and --drain-s, set once from the command line. */
const timing = { arrivalSeconds: 5, drainSeconds: 5 }
/** Sessions of the last run still open are waited for this long (mod_bosh's inactivity timeout is 30 s). */
const LEFTOVER_TIMEOUT_MS = 180_000
/** A tsung run that has not ended this long after its plan says it should is killed. */
const RUN_SLACK_MS = 120_000
/** How often a fresh connection is probed during a chat step (scripts/bench/fresh-probe.ts). */
const FRESH_PROBE_INTERVAL_MS = 100

type Side = 'Megaphone' | 'mod_bosh'
const SIDES: readonly Side[] = ['Megaphone', 'mod_bosh']

const OPTIONS = {
  users: { type: 'string', default: '1000' },
  rates: { type: 'string', default: '1000,2000' },
  'step-s': { type: 'string', default: '60' },
  burst: { type: 'string', default: '10' },
  'arrival-s': { type: 'string', default: '5' },
  'drain-s': { type: 'string', default: '5' },
  'empty-s': { type: 'string', default: '30' },
  'empty-users': { type: 'string', default: '50' },
  sides: { type: 'string', default: SIDES.join(',') },
  'megaphone-node-args': { type: 'string', default: '' },
  'timeout-s': { type: 'string', default: '3600' },
  'keep-state': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

const HELP = `Usage: node dist/scripts/bench/load.js [options]   (after: npm run build; needs tsung)

  --users N        BOSH users logged in during each step, <= ${MAX_USERS} (default 1000)
  --rates R,R      offered messages per second, one step each (default 1000,2000)
  --step-s S       how long each user chats in a step (default 60)
  --burst B        then a burst step: each user sends B messages back to back; 0: none (default 10)
  --arrival-s S    logins spread over S seconds: staggered starts make a smooth rate (default 5)
  --drain-s S      after the last user's last message, time for deliveries on their way (default 5)
  --empty-s S      then the cheapest request for S seconds per side; 0: none (default 30)
  --empty-users U  connections posting those requests (default 50)
  --sides S,S      which to measure: Megaphone, mod_bosh or both (default both)
  --megaphone-node-args A,A  Node options for Megaphone's process, e.g.
                   --cpu-prof,--cpu-prof-dir=/tmp/prof (a profile written when it exits)
  --timeout-s S    bound on the whole run (default 3600)
  --keep-state     keep .state/bench-<pid> (config, logs, tsung's logs) after the run
`

interface Step { name: string, messages: number, intervalSeconds: number, offered: number }

interface ChatResult {
  step: string
  side: Side
  offered: number
  /** Chat messages the users sent, and their sessions received for delivery (the server's count). */
  sent: number
  delivered: number
  /** Responses tsung saw with at least one message (it samples one latency per response). */
  responses: number
  /** Messages per second delivered over the steady intervals; NaN when none was steady. */
  deliveredPerSecond: number
  steadySeconds: number
  latency: { p50: number, p90: number, p99: number, max: number }
  /** A request on a new connection during the steady intervals (FreshProbe): ms, and how many probes failed. */
  fresh: { p50: number, p99: number, max: number, count: number, failed: number }
  errors: Array<[string, number]>
  /** Sessions Megaphone closed with a terminal condition during the run (Megaphone's side only). */
  terminated: Array<[string, number]>
  /** CPU seconds over the steady intervals, by process. */
  cpu: Record<string, number>
}

interface EmptyResult { side: Side, perSecond: number, seconds: number, errors: number, cpu: Record<string, number> }

/** The child processes the run started, killed by its cleanup. */
const running: { megaphone: Megaphone | null, load: ChildProcess | null } = { megaphone: null, load: null }

const run = new BenchRun(() => {
  if (running.load !== null) killTree(running.load)
  const child = running.megaphone?.child
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

function killTree (child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return
  for (const p of processTree(child.pid).reverse()) {
    try { process.kill(p.pid, 'SIGKILL') } catch {}
  }
}

// ---------------------------------------------------------------- tsung

/**
 * Runs load tool `command` to its end (killed with its children past
 * `boundMs`), sampling the CPU of `pids` and of the tool's own process tree
 * (named `command`) meanwhile; rejects unless it exits 0. `what` names it in errors.
 */
async function runLoadTool (command: string, args: string[], what: string, pids: Record<string, number>, boundMs: number, env = process.env): Promise<{ output: string, sampler: CpuSampler }> {
  const child = running.load = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const sampler = new CpuSampler(pids, { [command]: child.pid as number })
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => { killTree(child); reject(new Error(`${what} did not end within ${boundMs / 1000} s`)) }, boundMs)
      child.once('error', (err) => { clearTimeout(timer); reject(new Error(`cannot run ${what}: ${err.message}`)) })
      child.once('exit', (c) => { clearTimeout(timer); resolve(c) })
    })
    if (code !== 0) throw new Error(`${command} exited with ${code}:\n${output}`)
  } finally {
    sampler.stop()
    running.load = null
  }
  return { output, sampler }
}

/** Runs tsung on `config` with its logs in `dir`; samples CPU of `pids` and of tsung's own tree meanwhile. */
async function runTsung (dir: string, config: string, pids: Record<string, number>, boundMs: number): Promise<{ intervals: Interval[], fullstats: string, sampler: CpuSampler }> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'tsung.xml')
  writeFileSync(file, config)
  const what = `tsung (apt-get install tsung; logs in ${relative(PROJECT_ROOT, dir)})`
  const { output, sampler } = await runLoadTool('tsung', ['-f', file, '-l', dir, 'start'], what, pids, boundMs, tsungEnv())
  // tsung writes into a directory named after the time it started.
  const logDir = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name)).sort().at(-1)
  if (logDir === undefined) throw new Error(`tsung wrote no log directory in ${dir}:\n${output}`)
  const intervals = parseTsungLog(readFileSync(join(logDir, 'tsung.log'), 'utf8'))
  let fullstats = ''
  try { fullstats = readFileSync(join(logDir, 'tsung-fullstats.log'), 'utf8') } catch {}
  return { intervals, fullstats, sampler }
}

/**
 * The server's own count of chat messages its users sent and their sessions
 * received for delivery (megaphone_ctl:chat_counts/1, ejabberd hooks), polled
 * once a second. tsung cannot count deliveries: it samples one stamp per
 * response, and both servers put several messages in one BOSH response.
 */
class ChatCounts {
  readonly samples: Array<{ at: number, sent: number, received: number }> = []
  readonly #server: Ejabberd
  readonly #timer: NodeJS.Timeout
  #polling: Promise<void> | null = null

  constructor (server: Ejabberd) {
    this.#server = server
    void this.poll()
    this.#timer = setInterval(() => { void this.poll() }, 1000)
  }

  async poll (): Promise<void> {
    this.#polling ??= (async () => {
      try {
        const c = await this.#server.ctl<{ sent: number, received: number }>('chat_counts', this.#server.domain)
        this.samples.push({ at: Date.now(), ...c })
      } finally {
        this.#polling = null
      }
    })()
    await this.#polling
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#polling
    await this.poll()
  }

  /** Messages sent and received between the samples nearest to `from` and `to` (ms since the epoch). */
  between (from: number, to: number): { sent: number, received: number } {
    const a = nearestSample(this.samples, from)
    const b = nearestSample(this.samples, to)
    return { sent: b.sent - a.sent, received: b.received - a.received }
  }
}

/** The CPU of every sampled process over [from, to] (Unix seconds). */
function cpuBetween (sampler: CpuSampler, names: readonly string[], from: number, to: number): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, sampler.between(n, from * 1000, to * 1000)]))
}

// ---------------------------------------------------------------- Megaphone's own counts

interface MegaphoneCounts {
  /** megaphone_bosh_sessions_closed_total, by condition. */
  closed: Map<string, number>
  /** megaphone_bosh_requests_total. */
  requests: number
}

/** Megaphone's counters from /metrics; none for mod_bosh's side. */
async function megaphoneCounts (side: Side, megaphone: Megaphone): Promise<MegaphoneCounts> {
  const closed = new Map<string, number>()
  if (side !== 'Megaphone') return { closed, requests: 0 }
  const res = await fetch(new URL('/metrics', megaphone.url))
  const text = await res.text()
  for (const m of text.matchAll(/^megaphone_bosh_sessions_closed_total\{condition="([^"]*)"\} (\d+)$/gm)) closed.set(m[1] as string, Number(m[2]))
  const requests = /^megaphone_bosh_requests_total (\d+)$/m.exec(text)
  return { closed, requests: requests === null ? 0 : Number(requests[1]) }
}

// ---------------------------------------------------------------- steps

async function chatStep (side: Side, step: Step, target: Target, users: number, usersFile: string, pids: Record<string, number>, megaphone: Megaphone, server: Ejabberd): Promise<ChatResult> {
  const dir = join(run.stateDir, 'tsung', `${step.name.replace(/\W+/g, '-')}-${side}`)
  const settleSeconds = timing.arrivalSeconds + SETTLE_EXTRA_SECONDS
  const plan = {
    users,
    arrivalPerSecond: Math.max(1, Math.ceil(users / timing.arrivalSeconds)),
    settleSeconds,
    messages: step.messages,
    intervalSeconds: step.intervalSeconds,
    // The first users to arrive stay until the last have sent their last
    // message: a message to a user who has logged out would be stored
    // offline, not delivered (tsung keeps a user in its online list until then).
    drainSeconds: timing.arrivalSeconds + timing.drainSeconds,
    usersFile
  }
  const chatSeconds = step.messages * step.intervalSeconds
  // Each run starts from the same server: no session left from the last run
  // (mod_bosh keeps a stalled one until its inactivity timeout), and no
  // message stored for a user who had logged out, which its next login would
  // count as delivered, minutes late.
  await server.waitForConnected(0, LEFTOVER_TIMEOUT_MS)
  await server.evalErlang(`mod_offline:remove_old_messages(0, <<"${server.domain}">>).`)
  const before = await megaphoneCounts(side, megaphone)
  log(`${step.name}, ${side}: ${users} users, ${step.messages} messages each${step.intervalSeconds > 0 ? `, one every ${step.intervalSeconds.toFixed(3)} s` : ', back to back'}`)
  await server.ctl('chat_counts', server.domain)
  const counts = new ChatCounts(server)
  const probe = new FreshProbe(target, FRESH_PROBE_INTERVAL_MS)
  probe.start()
  let tsung
  try {
    tsung = await runTsung(dir, chatConfig(target, plan), pids, (timing.arrivalSeconds + settleSeconds + chatSeconds + plan.drainSeconds) * 1000 + RUN_SLACK_MS)
  } finally {
    probe.stop()
  }
  const { intervals, fullstats, sampler } = tsung
  await counts.stop()
  const whole = counts.between(counts.samples[0]?.at ?? 0, counts.samples.at(-1)?.at ?? 0)
  const after = await megaphoneCounts(side, megaphone)

  // Every user chats from (its arrival + login + settle) for chatSeconds: all
  // of them between start + ARRIVAL + settle (+ 2 s for the logins) and start
  // + settle + chatSeconds. tsung's load starts about when its first interval
  // does. A burst is over within seconds: the intervals from its first
  // delivery to its last.
  const start = (intervals[0]?.at ?? 0) - INTERVAL_SECONDS
  const from = start + timing.arrivalSeconds + settleSeconds + 2
  const to = start + settleSeconds + chatSeconds
  const steady = step.intervalSeconds === 0
    ? spanOf(intervals, 'xmpp_msg_latency')
    : intervals.filter((i) => i.at - INTERVAL_SECONDS >= from && i.at <= to)
  const steadyFrom = (steady[0]?.at ?? 0) - INTERVAL_SECONDS
  const steadyTo = steady.at(-1)?.at ?? 0
  const steadySeconds = steady.length * INTERVAL_SECONDS
  const steadyDelivered = counts.between(steadyFrom * 1000, steadyTo * 1000).received
  const latencies = fullstatsSamples(fullstats, 'xmpp_msg_latency').sort((a, b) => a - b)
  const names = Object.keys(pids).concat('tsung')
  const probes = probe.between(steadyFrom * 1000, steadyTo * 1000)
  const fresh = probes.filter(Number.isFinite).sort((a, b) => a - b)
  const terminated = [...after.closed].map(([condition, n]): [string, number] => [condition, n - (before.closed.get(condition) ?? 0)]).filter(([c, n]) => c !== 'normal' && n > 0)
  if (side === 'Megaphone') {
    log(`${step.name}, Megaphone: ${after.requests - before.requests} BOSH requests for ${whole.received} messages delivered (logins included)`)
  }
  return {
    step: step.name,
    side,
    offered: step.offered,
    sent: whole.sent,
    delivered: whole.received,
    responses: latencies.length,
    deliveredPerSecond: steadySeconds > 0 ? steadyDelivered / steadySeconds : NaN,
    steadySeconds,
    latency: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
    fresh: { p50: percentile(fresh, 50), p99: percentile(fresh, 99), max: fresh.at(-1) ?? NaN, count: probes.length, failed: probes.length - fresh.length },
    errors: errorsByKind(intervals),
    terminated,
    cpu: steady.length > 0 ? cpuBetween(sampler, names, steadyFrom, steadyTo) : Object.fromEntries(names.map((n) => [n, NaN]))
  }
}

async function emptyStep (side: Side, target: Target, connections: number, seconds: number, pids: Record<string, number>): Promise<EmptyResult> {
  const dir = join(run.stateDir, 'wrk')
  mkdirSync(dir, { recursive: true })
  const script = join(dir, 'empty.lua')
  writeFileSync(script, wrkScript())
  log(`cheapest request, ${side}: ${connections} connections for ${seconds} s (wrk)`)
  const url = `http://${target.host}:${target.port}${target.path}`
  const { output, sampler } = await runLoadTool('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, url], 'wrk (apt-get install wrk)', pids, seconds * 1000 + RUN_SLACK_MS)
  const result = parseWrk(output)
  if (result.errors > 0) log(`${side}: wrk counted ${result.errors} socket errors or unexpected statuses:\n${output}`)
  const names = Object.keys(pids).concat('wrk')
  const from = sampler.samples[0]?.at ?? 0
  const to = sampler.samples.at(-1)?.at ?? 0
  return { side, perSecond: result.requestsPerSecond, seconds: (to - from) / 1000, errors: result.errors, cpu: cpuBetween(sampler, names, from / 1000, to / 1000) }
}

// ---------------------------------------------------------------- report

const f = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : '-'

/** CPU seconds of the servers (every process but tsung) over the steady intervals. */
const serverCpu = (r: ChatResult): number => Object.entries(r.cpu).filter(([n]) => n !== 'tsung').reduce((s, [, v]) => s + v, 0)

function chatTable (results: readonly ChatResult[]): string {
  const rows = results.map((r) => {
    const perMsgMs = (cpu: number): string => f((cpu / (r.deliveredPerSecond * r.steadySeconds)) * 1000, 3)
    const cores = (cpu: number): string => f((cpu / r.steadySeconds) * 100, 0)
    const procs = Object.entries(r.cpu).filter(([n]) => n !== 'tsung')
    return [
      r.step, r.side, String(r.offered), `${r.sent} / ${r.delivered}`, String(r.responses), f(r.deliveredPerSecond, 0),
      `${f(r.latency.p50)} / ${f(r.latency.p90)} / ${f(r.latency.p99)} / ${f(r.latency.max)}`,
      `${f(r.fresh.p50)} / ${f(r.fresh.p99)} / ${f(r.fresh.max)}${r.fresh.failed > 0 ? ` (${r.fresh.failed} of ${r.fresh.count} failed)` : ''}`,
      r.errors.length === 0 ? '0' : r.errors.map(([k, n]) => `${k} ${n}`).join(', '),
      r.side === 'Megaphone' ? (r.terminated.length === 0 ? '0' : r.terminated.map(([k, n]) => `${k} ${n}`).join(', ')) : 'n/a',
      procs.map(([n, v]) => `${n} ${cores(v)}`).join(' + '),
      procs.map(([n, v]) => `${n} ${perMsgMs(v)}`).join(' + ') + (procs.length > 1 ? ` = ${perMsgMs(serverCpu(r))}` : ''),
      cores(r.cpu.tsung ?? NaN)
    ]
  })
  return markdownTable([['step', 'side', 'offered msg/s', 'sent / delivered', 'responses with a message', 'delivered msg/s (steady)', 'latency ms p50 / p90 / p99 / max',
    'fresh connection ms p50 / p99 / max', 'tsung errors', 'sessions Megaphone terminated', 'server CPU, % of a core', 'server CPU ms per delivered msg', 'tsung CPU, % of a core'], ...rows]).join('\n')
}

function ratioTable (results: readonly ChatResult[]): string {
  const rows: string[][] = []
  for (const step of [...new Set(results.map((r) => r.step))]) {
    const mp = results.find((r) => r.step === step && r.side === 'Megaphone')
    const mb = results.find((r) => r.step === step && r.side === 'mod_bosh')
    if (mp === undefined || mb === undefined) continue
    const perMsg = (r: ChatResult): number => serverCpu(r) / (r.deliveredPerSecond * r.steadySeconds)
    rows.push([step, f(mp.latency.p50 / mb.latency.p50, 2), f(mp.latency.p99 / mb.latency.p99, 2), f(perMsg(mp) / perMsg(mb), 2), f(mp.delivered / mb.delivered, 3)])
  }
  return markdownTable([['step', 'p50 Megaphone / mod_bosh', 'p99 Megaphone / mod_bosh', 'server CPU per delivered msg, Megaphone / mod_bosh', 'delivered, Megaphone / mod_bosh'], ...rows], 1).join('\n')
}

function emptyTable (results: readonly EmptyResult[]): string {
  return markdownTable([['side', 'requests/s', 'over s', 'errors', 'CPU, % of a core'], ...results.map((r) => [
    r.side, f(r.perSecond, 0), f(r.seconds), String(r.errors),
    Object.entries(r.cpu).map(([n, v]) => `${n} ${f((v / r.seconds) * 100, 0)}`).join(', ')
  ])], 1).join('\n')
}

// ---------------------------------------------------------------- main

function main (): void {
  const { values: args } = parseArgs({ options: OPTIONS })
  if (args.help === true) {
    process.stdout.write(HELP)
    return
  }
  const users = positiveInt('users', String(args.users), MAX_USERS)
  const rates = String(args.rates).split(',').filter((s) => s.trim() !== '').map((s) => positiveInt('rates', s.trim()))
  const stepSeconds = positiveInt('step-s', String(args['step-s']))
  const burst = Number(args.burst) === 0 ? 0 : positiveInt('burst', String(args.burst), 1000)
  const emptySeconds = Number(args['empty-s']) === 0 ? 0 : positiveInt('empty-s', String(args['empty-s']))
  const emptyUsers = positiveInt('empty-users', String(args['empty-users']), 5000)
  const timeoutMs = positiveInt('timeout-s', String(args['timeout-s'])) * 1000
  timing.arrivalSeconds = positiveInt('arrival-s', String(args['arrival-s']), 600)
  timing.drainSeconds = positiveInt('drain-s', String(args['drain-s']), 600)
  const sides = String(args.sides).split(',').map((s) => s.trim())
  if (sides.length === 0 || !sides.every((s): s is Side => (SIDES as readonly string[]).includes(s))) throw new Error(`--sides: expected ${SIDES.join(' and/or ')}, got ${String(args.sides)}`)

  run.main(async () => {
    run.begin({ keepState: args['keep-state'] === true, timeoutMs })
    const started = new Date()
    const { server, version } = await run.startEjabberd(users)
    const ejabberdPid = await ejabberdOsPid(server)
    const nodeArgs = String(args['megaphone-node-args']).split(',').filter((a) => a !== '')
    const megaphone = running.megaphone = await startMegaphoneProcess(server, nodeArgs)
    const megaphonePid = megaphone.child.pid as number
    const usersFile = join(run.stateDir, 'tsung', 'users.csv')
    mkdirSync(join(run.stateDir, 'tsung'), { recursive: true })
    writeFileSync(usersFile, usersCsv(Array.from({ length: users }, (_, i) => `${USER_PREFIX}${i + 1}`), PASSWORD))

    const targets: Record<Side, Target> = {
      Megaphone: { host: '127.0.0.1', port: Number(new URL(megaphone.url).port), path: '/http-bind', domain: server.domain },
      mod_bosh: { host: '127.0.0.1', port: server.httpPort, path: '/http-bind', domain: server.domain }
    }
    const pids: Record<Side, Record<string, number>> = {
      Megaphone: { node: megaphonePid, ejabberd: ejabberdPid },
      mod_bosh: { ejabberd: ejabberdPid }
    }
    const steps: Step[] = rates.map((rate) => {
      const intervalSeconds = users / rate
      return { name: `${rate} msg/s`, messages: Math.max(1, Math.round(stepSeconds / intervalSeconds)), intervalSeconds, offered: rate }
    })
    if (burst > 0) steps.push({ name: `burst of ${burst}`, messages: burst, intervalSeconds: 0, offered: Math.round((users * burst) / timing.arrivalSeconds) })

    const chats: ChatResult[] = []
    for (const [i, step] of steps.entries()) {
      for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
        chats.push(await chatStep(side, step, targets[side], users, usersFile, pids[side], megaphone, server))
      }
    }
    const empties: EmptyResult[] = []
    if (emptySeconds > 0) {
      for (const side of sides) empties.push(await emptyStep(side, targets[side], emptyUsers, emptySeconds, pids[side]))
    }

    await stopMegaphoneProcess(megaphone)
    running.megaphone = null

    const cpus = os.cpus()
    const report = [
      `# BOSH under load: Megaphone and mod_bosh with tsung (${started.toISOString().slice(0, 10)})`,
      '',
      `\`${commandLine()}\``,
      '',
      `${version}; Node ${process.version}; ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}; tsung, the servers and this process on the same cores.`,
      `${users} users; every step alternates the sides. Sent and delivered: chat messages as ejabberd counts them (sent by the users; received by their sessions for delivery).`,
      'Latency: tsung\'s stamps, one per response that carries messages (the oldest in it), ramps included: tsung samples no more, and both servers batch.',
      `Fresh connection: every ${FRESH_PROBE_INTERVAL_MS} ms during the steady intervals, this process opens a new connection and posts a body for an unknown sid (answered at once); connect to last byte.`,
      'Delivered msg/s and CPU: over the 1 s intervals in which every user was chatting (a burst: from its first delivery to its last). CPU from /proc: node = Megaphone\'s process,',
      'ejabberd = the whole Erlang VM (behind Megaphone: the link and the c2s sessions; for mod_bosh: everything), tsung = its VM.',
      '',
      chatTable(chats),
      '',
      ...(sides.length === 2 ? ['Ratios (Megaphone / mod_bosh, same step):', '', ratioTable(chats)] : []),
      ...(empties.length > 0 ? ['', `Cheapest request (a BOSH body for a session that does not exist, answered at once), wrk with one thread and ${emptyUsers} persistent connections:`, '', emptyTable(empties)] : [])
    ].join('\n')
    await run.finish(report)
  })
}

main()
