// The project's root directory, found from the running file, so a test reads
// the same files whether tap runs it from test/ (through tsx) or compiled
// from dist/test/ (as `npm test` does).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findProjectRoot (from: string): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts/ejabberd.sh'))) return dir
  }
  throw new Error(`no project root (package.json beside scripts/ejabberd.sh) above ${from}`)
}

/** The directory holding package.json. */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)))
