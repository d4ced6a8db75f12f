// The fuzz run: every property of test/fuzz/properties.ts with many cases,
// then PropEr's properties of the Erlang codec and framing (make -C ejabberd
// proper), and what each covered.
//   npx tsx scripts/fuzz.ts                       a million cases per property
//   npx tsx scripts/fuzz.ts --runs 10000 --only session --seed 42 --proper 0
// --runs N     cases per TypeScript property (default 1000000)
// --proper N   cases per PropEr property (default --runs / 10; 0 skips PropEr)
// --only TEXT  only the properties whose name contains TEXT (and no PropEr)
// --seed N     fast-check's seed (default: random, printed)
// --jobs N     properties run in N processes at once (default 1); each
//              property's report is printed whole, in the list's order
// Exits 1 when a property fails, after printing its counterexample.
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { ALL_PROPERTIES, Coverage, type FuzzProperty } from '../test/fuzz/properties.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000000' },
    proper: { type: 'string' },
    only: { type: 'string', default: '' },
    seed: { type: 'string' },
    jobs: { type: 'string', default: '1' },
    // Internal: the one property a worker process runs, by its index.
    property: { type: 'string' }
  }
})
const runs = Number(values.runs)
const properRuns = values.proper === undefined ? Math.ceil(runs / 10) : Number(values.proper)
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
const jobs = Number(values.jobs)
if (![runs, properRuns, seed, jobs].every(Number.isSafeInteger) || runs < 1 || properRuns < 0 || jobs < 1 || jobs > 16) {
  console.error('usage: scripts/fuzz.ts [--runs N] [--proper N] [--only TEXT] [--seed N] [--jobs N]')
  process.exit(2)
}

/** One property's report: its cases, time, outcome and coverage. */
function runOne (property: FuzzProperty): { text: string, failed: boolean } {
  const coverage = new Coverage()
  const t0 = Date.now()
  const result = fc.check(property.build(coverage), { numRuns: runs, seed })
  const seconds = ((Date.now() - t0) / 1000).toFixed(1)
  const lines = [`${property.name}`, `  ${result.numRuns} cases in ${seconds} s: ${result.failed ? 'FAILED' : 'passed'}`]
  for (const line of coverage.lines()) lines.push(`  ${line}`)
  if (result.failed) lines.push(fc.defaultReportMessage(result) ?? '', `Error: ${String(result.errorInstance)}`)
  return { text: lines.join('\n'), failed: result.failed }
}

if (values.property !== undefined) {
  // A worker: one property, its report on stdout, the outcome in the exit status.
  const { text, failed } = runOne(ALL_PROPERTIES[Number(values.property)] as FuzzProperty)
  process.stdout.write(`${text}\n`)
  process.exit(failed ? 1 : 0)
}

/** A command's output and whether it exited 0. */
function spawn (cmd: string, args: string[]): Promise<{ out: string, ok: boolean }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ out: `${stdout}${stderr}`, ok: err === null }))
  })
}

function properJob (): Promise<{ out: string, ok: boolean }> {
  const t0 = Date.now()
  return spawn('make', ['-s', '-C', join(ROOT, 'ejabberd'), 'proper', `PROPER_NUMTESTS=${properRuns}`]).then(({ out, ok }) => ({
    ok,
    // PropEr colours its verdicts; the report is plain text.
    // eslint-disable-next-line no-control-regex
    out: `PropEr: make -C ejabberd proper PROPER_NUMTESTS=${properRuns}\n${out.replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n').map((l) => `  ${l}`).join('\n')}\n  in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${ok ? 'passed' : 'FAILED'}`
  }))
}

const started = Date.now()
console.log(`fuzz: ${runs} cases per property, seed ${seed}, ${jobs} job(s); command: npx tsx scripts/fuzz.ts ${process.argv.slice(2).join(' ')}`.trimEnd())
const chosen = ALL_PROPERTIES.map((p, i) => ({ p, i })).filter(({ p }) => p.name.includes(values.only))
const tasks: Array<() => Promise<{ out: string, ok: boolean }>> = chosen.map(({ p, i }) => async () => {
  if (jobs === 1) {
    const { text, failed } = runOne(p)
    return { out: text, ok: !failed }
  }
  return await spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--runs', String(runs), '--seed', String(seed), '--property', String(i)])
})
if (properRuns > 0 && values.only === '') tasks.push(properJob)

// Up to `jobs` at a time; reports printed in order as each one's turn comes.
const results: Array<Promise<{ out: string, ok: boolean }>> = []
const running = new Set<Promise<unknown>>()
let failed = false
let printed = 0
const printReady = async (): Promise<void> => {
  while (printed < results.length) {
    const { out, ok } = await (results[printed] as Promise<{ out: string, ok: boolean }>)
    console.log(`\n${out.trimEnd()}`)
    if (!ok) failed = true
    printed++
  }
}
// One printer at a time, each report as soon as those before it are printed.
let printing = Promise.resolve()
for (const task of tasks) {
  while (running.size >= jobs) await Promise.race(running)
  const p = task()
  results.push(p)
  const tracked = p.finally(() => running.delete(tracked))
  running.add(tracked)
  printing = printing.then(printReady)
  if (jobs === 1) await printing
}
await printing.then(printReady)

console.log(`\nfuzz: ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
process.exit(failed ? 1 : 0)
