import t from 'tap'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { BUSY_ANSWERS, guardAccept } from '../lib/accept-guard.js'
import { openFiles } from '../lib/file-limit.js'

function logger (lines: Array<Record<string, unknown>>): Logger {
  return pino(new Writable({
    write (chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    }
  }))
}

async function listening (server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
}

t.test('an accept error for want of descriptors is counted, frees a descriptor, and never crashes the process', async (t) => {
  const server = createServer()
  await listening(server)
  t.teardown(() => server.close())
  const lines: Array<Record<string, unknown>> = []
  let emfile = 0
  let shed = 0
  const guard = guardAccept(server, { maxConnections: 100, log: logger(lines), onEmfile: () => { emfile++ }, shed: () => { shed++; return true } })
  t.teardown(() => guard.stop())
  t.equal(server.maxConnections, 100 + BUSY_ANSWERS, 'the cap is set, with room to answer 503 to the connections past it')
  const before = openFiles()
  const accept = (code: string): boolean => server.emit('error', Object.assign(new Error(`accept ${code}`), { code, syscall: 'accept', errno: -24 }))
  t.ok(accept('EMFILE'), 'handled')
  if (before !== null) t.equal(openFiles(), before - 1, 'the spare descriptor was closed at once')
  t.ok(accept('ENFILE'))
  t.equal(emfile, 2)
  t.equal(shed, 1, 'with the spare already used, the oldest unused connection goes')
  server.emit('error', Object.assign(new Error('boom'), { code: 'EINVAL', syscall: 'listen' }))
  t.match(lines, [{ code: 'EINVAL', syscall: 'listen', msg: 'listening socket error' }], 'any other error is logged, not thrown')
})

// What Node 20 itself does when accept() fails with EMFILE (lib/accept-guard.ts
// relies on it): a server in a process with 64 descriptors fills them all;
// connections meanwhile are closed at once, the event loop goes on, and once
// descriptors are free the server answers again.
const CHILD = `
import net from 'node:net'
import fs from 'node:fs'
const server = net.createServer((s) => { s.end('served') })
server.on('error', (e) => { console.log('error', e.code) })
const connect = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1')
  let got = ''
  s.on('data', (d) => { got += d })
  s.on('error', (e) => { got += '[' + e.code + ']' })
  s.on('close', () => resolve(got))
})
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port
  const spare = fs.openSync('/dev/null', 'r')
  const held = []
  try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch (e) { console.log('filled', e.code) }
  fs.closeSync(spare)
  const full = []
  // Each client takes the one free descriptor; the server has none left.
  for (let i = 0; i < 3; i++) full.push(await connect(port))
  console.log('while full', JSON.stringify(full))
  for (const fd of held.splice(0, 10)) fs.closeSync(fd)
  console.log('after', JSON.stringify(await connect(port)))
  process.exit(0)
})
`

t.test('Node 20 on EMFILE: connections are closed at once, the loop goes on, and accepting resumes once descriptors are free', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('bash', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, CHILD], { timeout: 30_000 }, (err, stdout) => {
      if (err !== null) reject(err)
      else resolve(stdout)
    })
  })
  t.match(out, /^filled EMFILE$/m)
  t.match(out, /^while full \["","",""\]$/m, 'each connection closed with nothing served')
  t.match(out, /^after "served"$/m, 'served again once descriptors were freed')
  t.notMatch(out, /^error /m, 'no error reached JavaScript')
})
