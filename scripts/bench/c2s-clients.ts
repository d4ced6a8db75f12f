// Child program of link-memory.ts: logs COUNT users into ejabberd's plain c2s
// port, one TCP connection each (RFC 6120: stream header, SASL PLAIN, restart,
// bind, initial presence), keeps them idle, and closes them when told. It runs
// in its own process so that the parent's socket count and memory figures stay
// clean. Text matching on ejabberd's replies is enough for a benchmark.
//
// Parent -> child (IPC): {type: 'close'}.
// Child -> parent: {type: 'ready', loginMs} | {type: 'closed'} | {type: 'error', message}.
import net from 'node:net'
import { finish, loginAll, runChild, type ErrorMessage, type LoginOptions } from './child.js'

export interface C2sClientsOptions extends LoginOptions {
  host: string
  port: number
}

export type C2sChildMessage =
  | { type: 'ready', loginMs: number }
  | { type: 'closed' }
  | ErrorMessage

const CLOSE_TIMEOUT_MS = 30_000

const streamHeader = (domain: string): string =>
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  `to='${domain}' version='1.0' xml:lang='en'>`

type Step = 'features' | 'sasl' | 'restart' | 'bind' | 'presence' | 'done'

/** Logs one user in over a fresh TCP connection; resolves with the idle socket. */
async function login (opts: C2sClientsOptions, user: string): Promise<net.Socket> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true })
    let step: Step = 'features'
    let buf = ''
    const fail = (why: string): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(`${user}: ${why} (step ${step}; received ${JSON.stringify(buf.slice(0, 300))})`))
    }
    const timer = setTimeout(() => fail(`no login within ${opts.loginTimeoutMs} ms`), opts.loginTimeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(streamHeader(opts.domain)))
    socket.on('error', (err) => { if (step !== 'done') fail(err.message) })
    socket.on('close', () => { if (step !== 'done') fail('connection closed') })
    socket.on('data', (chunk: string) => {
      if (step === 'done') return
      buf += chunk
      if (buf.includes('<stream:error')) return fail('stream error')
      switch (step) {
        case 'features':
          if (!buf.includes('</stream:features>')) return
          if (!buf.includes('<mechanism>PLAIN</mechanism>')) return fail('PLAIN not offered')
          buf = ''
          step = 'sasl'
          socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
            Buffer.from(`\0${user}\0${opts.password}`).toString('base64')}</auth>`)
          return
        case 'sasl':
          if (/<failure\b/.test(buf)) return fail('SASL failure')
          if (!/<success\b[^>]*\/>|<\/success>/.test(buf)) return
          buf = ''
          step = 'restart'
          // RFC 6120 6.4.6: a new stream after SASL success.
          socket.write(streamHeader(opts.domain))
          return
        case 'restart':
          if (!buf.includes('</stream:features>')) return
          buf = ''
          step = 'bind'
          socket.write("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
          return
        case 'bind': {
          const iq = /<iq\b[^>]*\bid='bind1'[^>]*(\/>|>[\s\S]*?<\/iq>)/.exec(buf)
          if (iq === null) return
          if (!/\btype='result'/.test(iq[0])) return fail('bind failed')
          buf = ''
          step = 'presence'
          // RFC 6121 4.2: initial presence; ejabberd echoes it to the resource.
          socket.write('<presence/>')
          return
        }
        case 'presence':
          if (!/<presence\b[^>]*\/>|<\/presence>/.test(buf)) return
          buf = ''
          step = 'done'
          clearTimeout(timer)
          resolve(socket)
      }
    })
  })
}

async function closeAll (sockets: net.Socket[]): Promise<void> {
  await Promise.all(sockets.map(async (socket) => await new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve()
    const timer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS)
    socket.once('close', () => { clearTimeout(timer); resolve() })
    socket.end('</stream:stream>')
  })))
}

runChild('c2s-clients', 'link-memory', async () => {
  const opts = JSON.parse(process.argv[2] ?? '') as C2sClientsOptions
  const sockets: net.Socket[] = []
  process.on('message', (msg: { type?: string }) => {
    if (msg.type !== 'close') return
    finish('close', async (): Promise<C2sChildMessage> => {
      await closeAll(sockets)
      return { type: 'closed' }
    })
  })
  await loginAll(opts, async (user) => { sockets.push(await login(opts, user)) })
})
