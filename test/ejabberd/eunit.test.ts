// Runs the Erlang module's EUnit tests (make -C ejabberd eunit) and reports
// each EUnit test as one tap assertion, so the suite's counts include them.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { PROJECT_ROOT } from '../helpers/root.js'

const ejabberdDir = join(PROJECT_ROOT, 'ejabberd')

const run = await new Promise<{ code: number, output: string }>((resolve) => {
  execFile('make', ['-s', '-C', ejabberdDir, 'eunit'], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
    const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
    resolve({ code, output: `${stdout}\n${stderr}` })
  })
})

// Verbose EUnit prints one line per test: "  module: name...ok", "...[0.001 s] ok" or "...*failed*".
const results = [...run.output.matchAll(/^\s*(\S+?:(?:\d+:)?\s?\S.*?)\.\.\.(?:\[[\d.]+ s\] )?(ok|\*failed\*|\*skipped\*)\s*$/gm)]

t.test('EUnit: megaphone codec (ejabberd/test)', async (t) => {
  t.ok(results.length > 0, 'EUnit ran and reported its tests')
  for (const [, name, outcome] of results) {
    if (outcome === '*skipped*') t.pass(name as string, { skip: 'skipped by EUnit' })
    else t.equal(outcome, 'ok', name as string)
  }
  const summary = /All (\d+) tests passed|Failed: (\d+)\.\s+Skipped: (\d+)\.\s+Passed: (\d+)/.exec(run.output)
  t.ok(summary, 'EUnit printed its summary')
  if (summary?.[1] !== undefined) t.equal(Number(summary[1]), results.length, 'every test was counted')
  t.equal(run.code, 0, 'make eunit exited 0')
  if (run.code !== 0 || results.length === 0) t.comment(run.output.slice(-4000))
})
