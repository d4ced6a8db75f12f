// A child process that floods Megaphone with connections that send nothing
// (test/system/file-limit.test.ts): a process has the same open-file limit
// as Megaphone, so several of these together can open more connections than
// Megaphone may hold. Started with fork(), and driven over IPC:
//   argv: port localAddress count
//   parent -> child: {type: 'count'} | {type: 'release'}
//   child -> parent: {type: 'counts', attempted, open, closed, failed} (after
//   every connection was attempted, and on 'count') | {type: 'released'}
import { connect, type Socket } from 'node:net'

export interface FloodCounts {
  type: 'counts'
  /** Connections attempted (each connected or failed). */
  attempted: number
  /** Connected and still open. */
  open: number
  /** Connected, then closed by the server. */
  closed: number
  /** Failed to connect (refused, reset, out of descriptors here). */
  failed: number
}
export type FloodMessage = FloodCounts | { type: 'released' }

/** Connections being opened at once: with three flooders, within Megaphone's accept queue (Node's backlog, 511), so that no SYN waits for a retransmission. */
const CONCURRENCY = 128
/** One attempt's bound: the kernel retries a SYN dropped by a full accept queue for much longer. */
const CONNECT_TIMEOUT_MS = 5_000

if (process.send !== undefined) {
  const [port, localAddress, countText] = process.argv.slice(2)
  const count = Number(countText)
  const sockets = new Set<Socket>()
  let attempted = 0
  let closed = 0
  let failed = 0
  const counts = (): FloodCounts => ({ type: 'counts', attempted, open: sockets.size, closed, failed })

  const one = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      const socket = connect({ port: Number(port), host: '127.0.0.1', localAddress })
      let connected = false
      socket.setTimeout(CONNECT_TIMEOUT_MS, () => { if (!connected) socket.destroy() })
      socket.once('connect', () => {
        connected = true
        socket.setTimeout(0)
        sockets.add(socket)
        attempted++
        resolve()
      })
      socket.on('error', () => {})
      socket.once('close', () => {
        if (sockets.delete(socket)) closed++
        else if (!connected) {
          failed++
          attempted++
          resolve()
        }
      })
    })
  }

  const run = async (): Promise<void> => {
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++
        await one()
      }
    }))
    process.send?.(counts())
  }

  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'count') process.send?.(counts())
    else if (msg.type === 'release') {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      process.send?.({ type: 'released' })
    }
  })
  process.on('disconnect', () => process.exit(0))
  void run()
}
