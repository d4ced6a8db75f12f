// scripts/bench/rss.ts run tiny: its own ejabberd, Megaphone in its own
// process, the BOSH clients in theirs; it must finish and print one row per
// size and path. Memory figures are the benchmark's business, never asserted here.
import t from 'tap'
import { runBenchScript } from '../helpers/bench-script.js'

t.setTimeout(240_000)

t.test('the RSS benchmark runs tiny and reports all four paths', async (t) => {
  const args = ['--sizes', '20', '--settle-s', '1', '--timeout-s', '200']
  const { code, stdout, stderr } = await runBenchScript('rss', args, 220_000)
  t.equal(code, 0, 'exits 0')
  if (code !== 0) t.comment(stderr.slice(-4000))
  t.match(stdout, /^# Resident memory per idle session: BOSH and WebSocket/m)
  const rows = stdout.split('\n').filter((l) => /^\| 20 /.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  t.same(rows.map((r) => r[1]), ['Megaphone', 'mod_bosh', 'Megaphone-ws', 'ejabberd-ws'], 'one row per path')
  for (const row of rows) t.match(row[4], /^-?[\d.]+$/, `${row[1]}: a total per session`)
  t.match(stdout, /Megaphone \(both processes\) \/ mod_bosh = /, 'the ratio for BOSH')
  t.match(stdout, /Megaphone-ws \(both processes\) \/ ejabberd-ws = /, 'and for WebSocket')
})
