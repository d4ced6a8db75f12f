// scripts/bench/rss.ts run tiny: its own ejabberd, Megaphone in its own
// process, the BOSH clients in theirs; it must finish and print one row per
// size and path. Memory figures are the benchmark's business, never asserted here.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROJECT_ROOT } from '../helpers/root.js'

t.setTimeout(240_000)

t.test('the RSS benchmark runs tiny and reports both paths', async (t) => {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js')
  const script = join(PROJECT_ROOT, compiled ? 'dist/scripts/bench/rss.js' : 'scripts/bench/rss.ts')
  if (!existsSync(script)) throw new Error(`${script} missing: npm test compiles it`)
  const args = [...(compiled ? [] : ['--import', 'tsx']), script, '--sizes', '20', '--settle-s', '1', '--timeout-s', '200']
  const { code, stdout, stderr } = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: PROJECT_ROOT, timeout: 220_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
  t.equal(code, 0, 'exits 0')
  if (code !== 0) t.comment(stderr.slice(-4000))
  t.match(stdout, /^# Resident memory per idle BOSH session/m)
  const rows = stdout.split('\n').filter((l) => /^\| 20 /.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  t.same(rows.map((r) => r[1]), ['Megaphone', 'mod_bosh'], 'one row per path')
  for (const row of rows) t.match(row[4], /^-?[\d.]+$/, `${row[1]}: a total per session`)
  t.match(stdout, /Megaphone \(both processes\) \/ mod_bosh = /, 'the ratio')
})
