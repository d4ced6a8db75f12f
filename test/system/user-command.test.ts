// `npm run user -- add NAME PASSWORD` (scripts/user.sh) against the run's
// private ejabberd: the account it creates logs in through Megaphone.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { BoshClient } from '../helpers/bosh-http.js'
import { PROJECT_ROOT, testEjabberd } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()

async function user (args: string[], env: Record<string, string> = { MEGAPHONE_EJABBERD_STATE: ej.stateDir }): Promise<{ code: number, out: string }> {
  return await new Promise((resolve) => {
    execFile('bash', [join(PROJECT_ROOT, 'scripts/user.sh'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr })
    })
  })
}

t.test('add creates an account that logs in through Megaphone; list shows it; remove deletes it', async (t) => {
  const added = await user(['add', 'usrscript', 's3cret pass'])
  t.equal(added.code, 0, added.out)
  t.match(added.out, `registered usrscript@${ej.domain}`)
  t.match((await user(['list'])).out, `usrscript@${ej.domain}`)
  const mp = await startMegaphone(t)
  const c = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await c.login('usrscript', 's3cret pass')
  t.match(c.jid, `usrscript@${ej.domain}/`)
  await c.terminate()
  t.equal((await user(['remove', 'usrscript'])).code, 0)
  t.notMatch((await user(['list'])).out, 'usrscript@')
})

t.test('without arguments it prints usage; without a running ejabberd it says how to start one', async (t) => {
  const usage = await user([])
  t.equal(usage.code, 2)
  t.match(usage.out, /npm run user -- add NAME PASSWORD/)
  const down = await user(['add', 'x', 'y'], { MEGAPHONE_EJABBERD_STATE: join(PROJECT_ROOT, '.state/no-such-ejabberd') })
  t.equal(down.code, 1)
  t.match(down.out, /not running; start it with: bash scripts\/setup.sh run/)
})
