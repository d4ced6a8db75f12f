// Test runs' private ejabberds: one state directory per tap runner,
// `.state/test-<runner pid>`.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PROJECT_ROOT, stopEjabberd } from '../helpers/ejabberd.js'

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Cleans up after runs whose runner died before its `after` step. */
export async function removeStaleRuns (currentRunnerPid: number): Promise<void> {
  const stateRoot = join(PROJECT_ROOT, '.state')
  const entries = await readdir(stateRoot).catch(() => [] as string[])
  for (const entry of entries) {
    const match = /^test-(\d+)$/.exec(entry)
    if (match === null) continue
    const pid = Number(match[1])
    if (pid === currentRunnerPid || isAlive(pid)) continue
    await stopEjabberd(join(stateRoot, entry))
  }
}
