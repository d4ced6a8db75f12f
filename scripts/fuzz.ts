// The fuzz run: every property of test/fuzz/properties.ts with many cases,
// then PropEr's properties of the Erlang codec and framing (make -C ejabberd
// proper), and what each covered.
//   npx tsx scripts/fuzz.ts                       a million cases per property
//   npx tsx scripts/fuzz.ts --runs 10000 --only session --seed 42 --proper 0
// --runs N     cases per TypeScript property (default 1000000)
// --proper N   cases per PropEr property (default --runs / 10; 0 skips PropEr)
// --only TEXT  only the properties whose name contains TEXT
// --seed N     fast-check's seed (default: random, printed)
// Exits 1 on the first failing property, after printing its counterexample.
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { ALL_PROPERTIES, Coverage } from '../test/fuzz/properties.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000000' },
    proper: { type: 'string' },
    only: { type: 'string', default: '' },
    seed: { type: 'string' }
  }
})
const runs = Number(values.runs)
const properRuns = values.proper === undefined ? Math.ceil(runs / 10) : Number(values.proper)
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(properRuns) || properRuns < 0 || !Number.isSafeInteger(seed)) {
  console.error('usage: scripts/fuzz.ts [--runs N] [--proper N] [--only TEXT] [--seed N]')
  process.exit(2)
}

const started = Date.now()
console.log(`fuzz: ${runs} cases per property, seed ${seed}; command: npx tsx scripts/fuzz.ts ${process.argv.slice(2).join(' ')}`.trimEnd())
let failed = false
for (const property of ALL_PROPERTIES.filter((p) => p.name.includes(values.only))) {
  const coverage = new Coverage()
  const t0 = Date.now()
  const result = fc.check(property.build(coverage), { numRuns: runs, seed })
  const seconds = ((Date.now() - t0) / 1000).toFixed(1)
  console.log(`\n${property.name}\n  ${result.numRuns} cases in ${seconds} s: ${result.failed ? 'FAILED' : 'passed'}`)
  for (const line of coverage.lines()) console.log(`  ${line}`)
  if (result.failed) {
    console.log(fc.defaultReportMessage(result))
    console.log(`Error: ${String(result.errorInstance)}`)
    failed = true
    break
  }
}

if (!failed && properRuns > 0 && values.only === '') {
  console.log(`\nPropEr (make -C ejabberd proper PROPER_NUMTESTS=${properRuns})`)
  const t0 = Date.now()
  try {
    const out = execFileSync('make', ['-s', '-C', join(ROOT, 'ejabberd'), 'proper', `PROPER_NUMTESTS=${properRuns}`], { encoding: 'utf8', maxBuffer: 64 << 20 })
    console.log(out.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'))
    console.log(`  in ${((Date.now() - t0) / 1000).toFixed(1)} s: passed`)
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string }
    console.log(`${e.stdout ?? ''}${e.stderr ?? ''}`)
    console.log('  PropEr FAILED')
    failed = true
  }
}

console.log(`\nfuzz: ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
process.exit(failed ? 1 : 0)
