// Child program of link-memory.ts: logs COUNT users into ejabberd's plain c2s
// port, one TCP connection each (RFC 6120: stream header, SASL PLAIN, restart,
// bind, initial presence: the login of scripts/clients/xmpp-login.ts), keeps
// them idle, and closes them when told. It runs in its own process so that the
// parent's socket count and memory figures stay clean.
//
// Parent -> child (IPC): {type: 'close'}.
// Child -> parent: {type: 'ready', loginMs} | {type: 'closed'} | {type: 'error', message}.
import net from 'node:net'
import { finish, loginAll, runChild, type ErrorMessage, type LoginOptions } from './child.js'
import { XmppLogin } from '../clients/xmpp-login.js'

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

/**
 * Splits the text of an XMPP stream (RFC 6120 4.2) into its top-level
 * elements: the stream headers and XML declarations are passed over, each
 * complete child of the stream root comes out as one string.
 */
class StreamElements {
  #buf = ''
  /** Where the next scan starts. */
  #scan = 0
  #depth = 0
  /** Where the open top-level element starts, while #depth > 0. */
  #start = 0

  push (chunk: string): string[] {
    this.#buf += chunk
    const out: string[] = []
    let at = this.#scan
    for (;;) {
      const open = this.#buf.indexOf('<', at)
      if (open === -1) {
        at = this.#buf.length
        break
      }
      const tag = /<(?:\?[^>]*\?>|\/?[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:'[^']*'|"[^"]*"))*\s*\/?>)/y
      tag.lastIndex = open
      const m = tag.exec(this.#buf)
      if (m === null) {
        at = open // an incomplete tag: wait for the rest
        break
      }
      at = tag.lastIndex
      const text = m[0]
      if (text.startsWith('<?') || text.startsWith('<stream:stream')) continue
      if (text.startsWith('</')) {
        if (--this.#depth === 0) out.push(this.#buf.slice(this.#start, at))
      } else if (text.endsWith('/>')) {
        if (this.#depth === 0) out.push(text)
      } else if (this.#depth++ === 0) {
        this.#start = open
      }
    }
    // Drop what is done with, keeping an element still open.
    const drop = this.#depth > 0 ? this.#start : at
    this.#buf = this.#buf.slice(drop)
    this.#scan = at - drop
    this.#start -= this.#depth > 0 ? drop : this.#start
    return out
  }
}

/** Logs one user in over a fresh TCP connection with the shared login; resolves with the idle socket. */
async function login (opts: C2sClientsOptions, user: string): Promise<net.Socket> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true })
    const elements = new StreamElements()
    let done = false
    const machine = new XmppLogin({ user, password: opts.password, resource: 'bench' }, {
      // RFC 6120 4.2, and 6.4.6: a new stream after SASL success.
      open: () => socket.write(streamHeader(opts.domain)),
      send: (xml) => socket.write(xml)
    })
    const fail = (why: string): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(`${user}: ${why} (step ${machine.step})`))
    }
    const timer = setTimeout(() => fail(`no login within ${opts.loginTimeoutMs} ms`), opts.loginTimeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => machine.start())
    socket.on('error', (err) => fail(err.message))
    socket.on('close', () => fail('connection closed'))
    socket.on('data', (chunk: string) => {
      if (done) return
      try {
        for (const xml of elements.push(chunk)) {
          if (!machine.receive(xml)) continue
          done = true
          clearTimeout(timer)
          resolve(socket)
          return
        }
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err))
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
