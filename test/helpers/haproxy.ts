// HAProxy (Debian's) in front of Megaphone processes, for the scale-out
// tests: the configuration scripts/haproxy.sh writes, HAProxy in the
// foreground on a free loopback port, stopped when the test ends.
import type { Test } from 'tap'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { waitFor } from './ejabberd.js'
import { freePorts } from './ports.js'
import { PROJECT_ROOT } from './root.js'

/** The instance tags of the processes, in order. */
export const INSTANCES = ['w1', 'w2', 'w3']

/** HAProxy in the foreground on a free port, in front of `megaphones`; stopped when `t` ends. */
export async function startHaproxy (t: Test, megaphones: Array<{ baseUrl: string }>): Promise<string> {
  const [port] = await freePorts(1) as [number]
  const servers = megaphones.map((mp, i) => `${INSTANCES[i] as string}=${new URL(mp.baseUrl).host}`)
  const config = execFileSync('bash', [join(PROJECT_ROOT, 'scripts/haproxy.sh'), '--bind', `127.0.0.1:${port}`, ...servers], { encoding: 'utf8' })
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-haproxy-'))
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, config)
  const proc = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  t.teardown(async () => {
    proc.kill('SIGTERM')
    await new Promise((resolve) => { if (proc.exitCode !== null) resolve(null); else proc.once('exit', resolve) })
    rmSync(dir, { recursive: true, force: true })
  })
  const base = `http://127.0.0.1:${port}`
  // Up once HAProxy answers and its health checks have marked every process up.
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`)
    try {
      const res = await request(`${base}/health`)
      await res.body.dump()
      return res.statusCode === 200
    } catch {
      return false
    }
  }, 10_000, 'HAProxy to answer')
  return base
}
