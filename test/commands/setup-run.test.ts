// The README's command 1, `bash scripts/setup.sh run`, as a user runs it (on
// free ports and a state directory of its own): Megaphone and its private
// ejabberd come up, BOSH logs a user in, the chat page is served, and Ctrl-C
// (SIGINT to the process group) stops both.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { BoshClient } from '../helpers/bosh-http.js'
import { PROJECT_ROOT, waitFor } from '../helpers/ejabberd.js'
import { freePorts } from '../helpers/ports.js'

// It builds Megaphone and starts ejabberd from scratch: allow more than .taprc's 120 s on a busy machine.
t.setTimeout(300_000)

t.test('setup.sh run serves BOSH and the chat page for a private ejabberd, and Ctrl-C stops both', async (t) => {
  await runAndStop(t, [])
})

t.test('setup.sh run --processes 2: two Megaphone processes behind HAProxy on the same port; Ctrl-C stops everything', async (t) => {
  const seen = await runAndStop(t, ['--processes', '2'])
  t.match(seen.output, /2 Megaphone processes \(w1=127\.0\.0\.1:\d+ w2=127\.0\.0\.1:\d+\) behind HAProxy/, 'says what it runs')
  t.match(seen.sid, /^w[12]-[0-9a-f]{32}$/, 'the session\'s sid carries its process\'s tag')
})

/**
 * Runs `setup.sh run ARGS` on free ports and a state directory of its own,
 * waits for /health, checks the chat page and a BOSH login, then sends Ctrl-C
 * and checks that everything stopped. Returns the output and the login's sid.
 */
async function runAndStop (t: Test, args: string[]): Promise<{ output: string, sid: string }> {
  const [httpPort, c2sPort, ejHttpPort, linkPort, p1, p2] = await freePorts(6) as [number, number, number, number, number, number]
  const stateDir = join(PROJECT_ROOT, `.state/setup-run-${process.pid}-${args.length}`)
  const env = {
    ...process.env,
    MEGAPHONE_HTTP_PORT: String(httpPort),
    MEGAPHONE_PROCESS_PORTS: `${p1},${p2}`,
    MEGAPHONE_EJABBERD_STATE: stateDir,
    MEGAPHONE_EJABBERD_C2S_PORT: String(c2sPort),
    MEGAPHONE_EJABBERD_HTTP_PORT: String(ejHttpPort),
    MEGAPHONE_LINK_PORT: String(linkPort),
    MEGAPHONE_LOG_LEVEL: 'warn'
  }
  const child = spawn('bash', ['scripts/setup.sh', 'run', ...args], { cwd: PROJECT_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let running = true
  void exited.then(() => { running = false })
  // Set once the test has seen ejabberd stopped; until then teardown stops it.
  let ejabberdStopped = false
  t.teardown(async () => {
    if (running) process.kill(-(child.pid as number), 'SIGKILL')
    if (!ejabberdStopped) await script(['scripts/ejabberd.sh', 'stop'], env).catch(() => {})
    rmSync(stateDir, { recursive: true, force: true })
  })

  const base = `http://127.0.0.1:${httpPort}`
  await waitFor(async () => {
    if (!running) throw new Error(`setup.sh run exited early:\n${output}`)
    const res = await request(`${base}/health`).catch(() => null)
    if (res === null) return false
    await res.body.text()
    return res.statusCode === 200
  }, 120_000, 'Megaphone healthy behind the private ejabberd', 250)
  t.match(output, `BOSH ${base}/http-bind`, 'says where BOSH is')

  const page = await request(`${base}/`)
  t.equal(page.statusCode, 200, 'the chat page')
  t.match(await page.body.text(), /<html/i)

  const added = await script(['scripts/user.sh', 'add', 'setuprun', 'pw-123'], env)
  t.match(added, 'registered setuprun@localhost')
  const c = new BoshClient(`${base}/http-bind`, { domain: 'localhost' })
  await c.login('setuprun', 'pw-123')
  t.match(c.jid, 'setuprun@localhost/', 'logged in over BOSH')
  const sid = c.sid

  // Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
  process.kill(-(child.pid as number), 'SIGINT')
  // The exit is the barrier; the timer only bounds it, and must not keep this
  // process alive for its 60 s once the race is decided.
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 60_000) })])
  clearTimeout(timer)
  t.not(code, 'timeout', 'exited within 60 s')
  const status = await script(['scripts/ejabberd.sh', 'status'], env).then(() => 'running', (err: Error) => err.message)
  t.match(status, /exit 3/, 'ejabberd stopped too')
  ejabberdStopped = /exit 3/.test(status)
  return { output, sid }
}

async function script (args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('bash', args, { cwd: PROJECT_ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${args.join(' ')}: exit ${String(err.code)}\n${stderr}`))
      else resolve(stdout + stderr)
    })
  })
}
