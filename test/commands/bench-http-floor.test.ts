// scripts/bench/http-floor.ts run tiny: it starts node:http, Fastify and
// Megaphone in turn, measures each under wrk and prints one row per server.
// Timings are the benchmark's business, never asserted here.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROJECT_ROOT } from '../helpers/root.js'

t.setTimeout(120_000)

t.test('the HTTP floor benchmark runs tiny and reports every server', async (t) => {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js')
  const script = join(PROJECT_ROOT, compiled ? 'dist/scripts/bench/http-floor.js' : 'scripts/bench/http-floor.ts')
  if (!existsSync(script)) throw new Error(`${script} missing: npm test compiles it`)
  const args = [...(compiled ? [] : ['--import', 'tsx']), script, '--rounds', '1', '--seconds', '1', '--connections', '2']
  const { code, stdout, stderr } = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: PROJECT_ROOT, timeout: 100_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
  t.equal(code, 0, 'exits 0')
  if (code !== 0) t.comment(stderr.slice(-4000))
  const rows = stdout.split('\n').filter((l) => /^\| (node:http|fastify|Megaphone) /.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  t.same(rows.map((r) => r[0]), ['node:http', 'fastify', 'Megaphone'], 'one row per server')
  for (const row of rows) t.ok(Number(row[2]) > 0 && Number(row[3]) > 0, `${row[0]}: requests/s and CPU per request`)
})
