// Runs PropEr's properties of the Erlang link codec and framing
// (ejabberd/test/prop_*.erl, `make -C ejabberd proper`) with a bounded
// number of cases, and reports each property as one tap assertion.
// scripts/fuzz.ts runs them with many more.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { PROJECT_ROOT } from '../helpers/root.js'

const CASES = 2_000
const ejabberdDir = join(PROJECT_ROOT, 'ejabberd')

const run = await new Promise<{ code: number, output: string }>((resolve) => {
  execFile('make', ['-s', '-C', ejabberdDir, 'proper', `PROPER_NUMTESTS=${CASES}`], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
    const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
    resolve({ code, output: `${stdout}\n${stderr}` })
  })
})

// PropEr prints "Testing mod:prop/0", then "OK: Passed N test(s)." or "Failed: After N test(s)." and the counterexample.
const results = [...run.output.matchAll(/^Testing (\S+)\n[\s\S]*?(OK: Passed (\d+) test|Failed: After (\d+) test)/gm)]

t.test('PropEr: Erlang link codec and framing (ejabberd/test/prop_*.erl)', async (t) => {
  t.ok(results.length >= 7, 'PropEr ran every property', { found: results.map((r) => r[1]) })
  for (const [, name, , passed] of results) {
    t.equal(Number(passed ?? 0), CASES, `${name as string}: ${CASES} cases passed`)
  }
  t.equal(run.code, 0, 'make proper exited 0')
  if (run.code !== 0 || results.length === 0) t.comment(run.output.slice(-4000))
})
