// scripts/bench/http-floor.ts run tiny: it starts node:http, Fastify and
// Megaphone in turn, measures each under wrk and prints one row per server.
// Timings are the benchmark's business, never asserted here.
import t from 'tap'
import { runBenchScript } from '../helpers/bench-script.js'

t.setTimeout(120_000)

t.test('the HTTP floor benchmark runs tiny and reports every server', async (t) => {
  const args = ['--rounds', '1', '--seconds', '1', '--connections', '2']
  const { code, stdout, stderr } = await runBenchScript('http-floor', args, 100_000)
  t.equal(code, 0, 'exits 0')
  if (code !== 0) t.comment(stderr.slice(-4000))
  const rows = stdout.split('\n').filter((l) => /^\| (node:http|fastify|Megaphone) /.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  t.same(rows.map((r) => r[0]), ['node:http', 'fastify', 'Megaphone'], 'one row per server')
  for (const row of rows) t.ok(Number(row[2]) > 0 && Number(row[3]) > 0, `${row[0]}: requests/s and CPU per request`)
})
