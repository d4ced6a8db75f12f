// Megaphone serving HTTPS itself (http.tlsCertFile, http.tlsKeyFile), so a
// page on https:// can use it with no proxy in front: a curl login, message
// and logout over TLS, and the chat page over TLS.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { once } from 'node:events'
import { connect as tlsConnect } from 'node:tls'
import { PROJECT_ROOT, registerUsers, testEjabberd } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'

const ej = testEjabberd()

async function run (cmd: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`))
      else resolve(stdout + stderr)
    })
  })
}

t.test('with a certificate and key, BOSH and the chat page are served over HTTPS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert])
  const mp = await startMegaphone(t, { env: { MEGAPHONE_HTTP_TLS_CERT_FILE: cert, MEGAPHONE_HTTP_TLS_KEY_FILE: key } })
  t.match(mp.boshUrl, /^https:\/\//)

  const agent = new Agent({ connect: { ca: readFileSync(cert) } })
  t.teardown(async () => await agent.close())
  const page = await request(`${mp.baseUrl}/`, { dispatcher: agent })
  t.equal(page.statusCode, 200, 'the chat page over TLS, certificate verified')
  await page.body.text()

  const [alice] = await registerUsers('tls', 1, 'tls-pw') as [string]
  const out = await run('bash', [join(PROJECT_ROOT, 'scripts/bosh/check.sh'), '-k', '-u', mp.boshUrl, '-d', ej.domain, alice, 'tls-pw'])
  t.match(out, /bosh check passed/, 'login, message and logout over HTTPS with curl')

  const plain = await request(mp.boshUrl.replace('https:', 'http:'), { method: 'POST', body: '<x/>' }).catch((err: Error) => err)
  t.ok(plain instanceof Error || plain.statusCode >= 400, 'plain HTTP on the TLS port gets nothing useful')
  if (!(plain instanceof Error)) await plain.body.text()

  // A TLS connection that never sends a request does not hold up shutdown
  // (Node would keep it until headersTimeout, 60 s).
  const silent = tlsConnect({ host: '127.0.0.1', port: Number(new URL(mp.baseUrl).port), ca: readFileSync(cert) })
  await once(silent, 'secureConnect')
  const closed = once(silent, 'close')
  const started = Date.now()
  await mp.app.close()
  await closed
  t.ok(Date.now() - started < 10_000, `shut down in ${Date.now() - started} ms with a silent TLS connection open`)
})
