// Raw TCP connections to Megaphone that misbehave on purpose (silence,
// trickling, idle keep-alive), from a chosen loopback address so that the
// per-address limits see them apart from the test's own clients. Every
// connection records what it received and whether the server closed it.
import { connect, type Socket } from 'node:net'

export interface RawConnection {
  socket: Socket
  /** Everything the server sent. */
  received: string
  /** True once the socket is closed (by the server, or by an error). */
  closed: boolean
  /** When it was opened and closed (Date.now()), for t.comment. */
  openedAt: number
  closedAt: number | null
  /** Resolves once connected (rejects if the connection fails). */
  connected: Promise<void>
}

export function openRaw (port: number, localAddress = '127.0.0.2'): RawConnection {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  const conn: RawConnection = { socket, received: '', closed: false, openedAt: Date.now(), closedAt: null, connected: Promise.resolve() }
  conn.connected = new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.on('data', (chunk: Buffer) => { conn.received += chunk.toString('latin1') })
  socket.on('error', () => {})
  socket.on('close', () => {
    conn.closed = true
    conn.closedAt = Date.now()
  })
  return conn
}

/** Writes `text` one byte every `intervalMs` until it is all sent or the socket closes; never ends the socket. */
export function trickle (conn: RawConnection, text: string, intervalMs: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (conn.closed || i >= text.length) {
      clearInterval(timer)
      return
    }
    conn.socket.write(text[i++] as string)
  }, intervalMs)
  timer.unref()
}

/** The status line's code of the first response received, or null. */
export function statusOf (conn: RawConnection): number | null {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(conn.received)
  return m === null ? null : Number(m[1])
}

/** Opens `count` connections `batch` at a time (each batch connected before the next). */
export async function openMany (count: number, port: number, localAddress = '127.0.0.2', batch = 200): Promise<RawConnection[]> {
  const all: RawConnection[] = []
  for (let i = 0; i < count; i += batch) {
    const some = Array.from({ length: Math.min(batch, count - i) }, () => openRaw(port, localAddress))
    await Promise.all(some.map(async (c) => await c.connected))
    all.push(...some)
  }
  return all
}
