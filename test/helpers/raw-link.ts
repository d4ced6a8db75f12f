// A bare TCP client of megaphone_listener that speaks frames by hand, for
// tests of the listener's side of docs/link-protocol.md (handshake, refusals,
// protocol errors) where the real Link would refuse to misbehave.
import net from 'node:net'
import { once } from 'node:events'
import { createHmac } from 'node:crypto'
import { FrameDecoder, encodeFrame, type Frame } from '../../lib/link/codec.js'
import { CONTROL_ID } from '../../lib/link/constants.js'

export class RawLink {
  readonly socket: net.Socket
  readonly frames: Frame[] = []
  closed = false
  #decoder = new FrameDecoder()
  #wake: (() => void) | null = null

  private constructor (socket: net.Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#decoder.push(chunk)) this.frames.push({ id: f.id, content: Buffer.from(f.content) })
      this.#wake?.()
    })
    socket.on('close', () => { this.closed = true; this.#wake?.() })
    socket.on('error', () => {})
  }

  static async connect (port: number, host = '127.0.0.1'): Promise<RawLink> {
    const socket = net.connect(port, host)
    await once(socket, 'connect')
    return new RawLink(socket)
  }

  send (id: number, content: string | Buffer): void {
    this.socket.write(encodeFrame(id, content))
  }

  control (line: string): void {
    this.send(CONTROL_ID, line)
  }

  /** Waits for the first frame (in arrival order, consumed) that matches. */
  async next (match: (f: Frame) => boolean, timeoutMs = 10_000, what = 'frame'): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.frames.findIndex(match)
      if (i !== -1) return this.frames.splice(i, 1)[0]!
      if (this.closed) throw new Error(`link closed before ${what}; got: ${this.frames.map((f) => `${f.id}:${f.content.toString()}`).join(' | ')}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); this.#wake = null; resolve() }
      })
    }
  }

  async nextControl (prefix: string, timeoutMs = 10_000): Promise<string> {
    const f = await this.next((f) => f.id === CONTROL_ID && f.content.toString().startsWith(prefix), timeoutMs, `control '${prefix}'`)
    return f.content.toString()
  }

  async waitClosed (timeoutMs = 10_000): Promise<void> {
    if (this.closed) return
    await Promise.race([
      once(this.socket, 'close'),
      new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs).unref())
    ])
  }

  /** Runs the handshake of docs/link-protocol.md with `secret`; returns the listener's answer. */
  async handshake (secret: string, version = 1, maxFrameBytes = 1048576): Promise<string> {
    const challenge = await this.nextControl('challenge ')
    const nonce = challenge.split(' ')[2] as string
    const hmac = createHmac('sha256', secret).update(nonce, 'latin1').digest('hex')
    this.control(`auth ${version} ${hmac} ${maxFrameBytes}`)
    const f = await this.next((f) => f.id === CONTROL_ID && /^(ready|denied) /.test(f.content.toString()), 10_000, 'ready or denied')
    return f.content.toString()
  }

  destroy (): void {
    this.socket.destroy()
  }
}
