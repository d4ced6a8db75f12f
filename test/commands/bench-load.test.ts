// README's load benchmark (scripts/bench/load.ts) run tiny, as an operator
// runs it (its own ejabberd, Megaphone in its own process, tsung and wrk): it
// must finish and report every step with the messages delivered, no error and no session
// terminated. Megaphone's side only: mod_bosh stalls some sessions under
// tsung (docs/bench-load.md), and tsung then waits minutes for them.
// Timings are the benchmark's business, never asserted here.
import t from 'tap'
import { runBenchScript } from '../helpers/bench-script.js'

t.setTimeout(300_000)

/** The rows of the markdown tables in `report`, as cells; header and rule lines left out. */
function rows (report: string): string[][] {
  return report.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| step ') && !l.startsWith('| side '))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
}

t.test('the load benchmark runs tiny: every step reported, everything delivered, no error', async (t) => {
  const args = ['--users', '10', '--rates', '10', '--step-s', '3', '--burst', '2', '--arrival-s', '1', '--drain-s', '1',
    '--empty-s', '2', '--empty-users', '4', '--sides', 'Megaphone', '--timeout-s', '240']
  const { code, stdout, stderr } = await runBenchScript('load', args, 280_000)
  t.equal(code, 0, 'exits 0')
  if (code !== 0) t.comment(stderr.slice(-4000))
  t.match(stdout, /^# BOSH under load: Megaphone and mod_bosh with tsung/m)
  const [rate, burst, empty] = rows(stdout)
  // step | side | offered | sent / delivered | responses | delivered/s | latency | fresh connection | tsung errors | terminated | CPU | CPU per msg | tsung CPU
  t.same(rate?.slice(0, 4), ['10 msg/s', 'Megaphone', '10', '30 / 30'], 'the rate step: 10 users, 3 messages each, all delivered')
  t.ok(Number(rate?.[4]) > 0, 'tsung saw responses with messages')
  t.match(rate?.[6], /^[\d.]+ \/ [\d.]+ \/ [\d.]+ \/ [\d.]+$/, 'latency percentiles')
  t.same(rate?.slice(8, 10), ['0', '0'], 'no tsung error, no session terminated')
  t.same(burst?.slice(0, 4), ['burst of 2', 'Megaphone', '20', '20 / 20'], 'the burst step')
  // The burst's span is at least one of tsung's 1 s intervals: about ten probes.
  t.match(burst?.[7], /^[\d.]+ \/ [\d.]+ \/ [\d.]+$/, 'fresh-connection percentiles, no probe failed')
  t.same(burst?.slice(8, 10), ['0', '0'])
  t.equal(empty?.[0], 'Megaphone', 'the cheapest request')
  t.ok(Number(empty?.[1]) > 0, 'requests/s')
  t.equal(empty?.[3], '0', 'no wrk error')
})
