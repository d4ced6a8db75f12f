// How much of the cheapest BOSH request is Node's own HTTP cost: Megaphone
// answering a body for an unknown sid (as load.ts's cheapest request), beside
// node:http alone and Fastify alone answering the same bytes
// (floor-server.ts), under wrk. With 1 connection every request is a turn of
// the event loop of its own, as under a real load of long polls; with 50,
// the server reads many requests per turn.
//
//   npm run build && node dist/scripts/bench/http-floor.js [--rounds 3] [--seconds 5]
//
// Each server runs alone, on core 0 (taskset), and wrk on core 1: when they
// share cores the figures swing by a factor of two with where the scheduler
// puts them. Servers alternate round by round. CPU per request is the
// server's user + system time from /proc over wrk's run, divided by wrk's count.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { freePorts } from '../../test/helpers/ports.js'
import { childScript, commandLine, forkChild, log, markdownTable, nextMessage } from './harness.js'
import { positiveInt } from './options.js'
import { procStat } from './proc-stat.js'
import { parseWrk, wrkScript } from './wrk.js'

const HELP = `Usage: node dist/scripts/bench/http-floor.js [options]   (after: npm run build; needs wrk and taskset)

  --rounds N     rounds; each runs every server once per connection count (default 3)
  --seconds S    wrk's run per measurement (default 5)
  --connections C,C  wrk's connection counts (default 1,50)
`
const START_TIMEOUT_MS = 30_000
const WARMUP_SECONDS = 1

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '1,50' }, help: { type: 'boolean' } }
})
if (args.help === true) {
  process.stdout.write(HELP)
  process.exit(0)
}
const rounds = positiveInt('rounds', args.rounds, 100)
const seconds = positiveInt('seconds', args.seconds, 600)
const connectionCounts = args.connections.split(',').map((c) => positiveInt('connections', c, 1000))

interface Server { name: string, proc: ChildProcess, exited: Promise<void>, url: string }

/** Starts `name` pinned to core 0; floor servers report their port, Megaphone is given one. */
async function start (name: string): Promise<Server> {
  const pinned = ['taskset', '-c', '0', process.execPath, ...process.execArgv]
  if (name === 'Megaphone') {
    // No ejabberd: an unknown sid is answered without the link. The link
    // points at a port nothing listens on and retries in the background.
    const [port] = await freePorts(1) as [number]
    const proc = spawn(pinned[0] as string, [...pinned.slice(1), childScript('../../server')], {
      stdio: ['ignore', 'ignore', 2],
      env: { ...process.env, MEGAPHONE_HTTP_HOST: '127.0.0.1', MEGAPHONE_HTTP_PORT: String(port), MEGAPHONE_LINK_PORT: '9', MEGAPHONE_LINK_SECRET: 'http-floor-benchmark-no-ejabberd', MEGAPHONE_LOG_LEVEL: 'fatal' }
    })
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    const url = `http://127.0.0.1:${port}/http-bind`
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      try { await fetch(url, { method: 'POST', body: '<body/>' }); break } catch {}
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error('Megaphone did not start')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return { name, proc, exited, url }
  }
  const { child, exited } = forkChild('floor-server', [name])
  const { port } = await nextMessage<{ port: number }>(child, START_TIMEOUT_MS, `${name}: start`)
  return { name, proc: child, exited, url: `http://127.0.0.1:${port}/http-bind` }
}

async function stop (server: Server): Promise<void> {
  server.proc.kill('SIGTERM')
  await server.exited
}

async function wrk (script: string, url: string, connections: number, s: number): Promise<string> {
  const proc = spawn('taskset', ['-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${s}s`, '-s', script, url], { stdio: ['ignore', 'pipe', 2] })
  let out = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve))
  if (code !== 0) throw new Error(`wrk exited ${code}`)
  return out
}

interface Reading { perSecond: number, cpuUsPerRequest: number }
const readings = new Map<string, Reading[]>()
const dir = mkdtempSync(join(os.tmpdir(), 'http-floor-'))
const script = join(dir, 'empty.lua')
writeFileSync(script, wrkScript())
const names = ['node:http', 'fastify', 'Megaphone']
try {
  for (let round = 1; round <= rounds; round++) {
    for (const name of round % 2 === 1 ? names : [...names].reverse()) {
      const server = await start(name)
      try {
        for (const connections of connectionCounts) {
          await wrk(script, server.url, connections, WARMUP_SECONDS)
          const before = procStat(server.proc.pid as number)?.cpuSeconds ?? NaN
          const result = parseWrk(await wrk(script, server.url, connections, seconds))
          const after = procStat(server.proc.pid as number)?.cpuSeconds ?? NaN
          if (result.errors > 0) throw new Error(`${name}: wrk counted ${result.errors} errors`)
          const reading = { perSecond: result.requestsPerSecond, cpuUsPerRequest: ((after - before) / result.requests) * 1e6 }
          log(`round ${round}, ${name}, ${connections} connections: ${reading.perSecond.toFixed(0)} requests/s, ${reading.cpuUsPerRequest.toFixed(1)} µs CPU per request`)
          const key = `${name}|${connections}`
          readings.set(key, [...(readings.get(key) ?? []), reading])
        }
      } finally {
        await stop(server)
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] ?? NaN }
const rows: string[][] = [['server', 'connections', 'requests/s (median)', 'CPU µs per request (median)', 'CPU per request / node:http']]
for (const connections of connectionCounts) {
  const floor = median((readings.get(`node:http|${connections}`) ?? []).map((r) => r.cpuUsPerRequest))
  for (const name of names) {
    const rs = readings.get(`${name}|${connections}`) ?? []
    const cpu = median(rs.map((r) => r.cpuUsPerRequest))
    rows.push([name, String(connections), median(rs.map((r) => r.perSecond)).toFixed(0), cpu.toFixed(1), (cpu / floor).toFixed(2)])
  }
}
process.stdout.write([
  `# The cheapest request beside node:http and Fastify alone (${new Date().toISOString().slice(0, 10)})`, '',
  `\`${commandLine()}\``, '',
  `Node ${process.version}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}; each server alone on core 0, wrk (one thread) on core 1; ${rounds} rounds of ${seconds} s, servers alternating.`,
  'Megaphone answers a body for an unknown sid (item-not-found); node:http and Fastify answer the same bytes with the same headers.', '',
  ...markdownTable(rows, 1), ''
].join('\n'))
