// Runs one of scripts/bench/ as an operator does, for the tests that run a
// benchmark tiny: its compiled copy when the test itself is compiled (npm
// test), its TypeScript through tsx otherwise.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROJECT_ROOT } from './root.js'

export interface ScriptRun { code: number | null, stdout: string, stderr: string }

/** Runs scripts/bench/NAME with `args`, killed after `timeoutMs`; resolves with its exit code and output. */
export async function runBenchScript (name: string, args: readonly string[], timeoutMs: number): Promise<ScriptRun> {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js')
  const script = join(PROJECT_ROOT, compiled ? `dist/scripts/bench/${name}.js` : `scripts/bench/${name}.ts`)
  if (!existsSync(script)) throw new Error(`${script} missing: npm test compiles it`)
  const argv = [...(compiled ? [] : ['--import', 'tsx']), script, ...args]
  return await new Promise<ScriptRun>((resolve) => {
    execFile(process.execPath, argv, { cwd: PROJECT_ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}
