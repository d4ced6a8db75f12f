// Free loopback ports for servers the tests start themselves.
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'

/**
 * The kernel's range for the source ports of outgoing connections. A port
 * taken from it for a server can be handed to some client's connection
 * between the time it is found free and the time the server binds it (load
 * tools open hundreds of connections): servers get ports below it.
 */
function ephemeralStart (): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isSafeInteger(low) ? low : 32768
  } catch {
    return 32768
  }
}

/** Lowest port handed out: above the well-known and most registered services' ports. */
const LOW_PORT = 10_000
const MAX_ATTEMPTS = 200

/**
 * Free loopback ports below the ephemeral range, all held at once so they
 * differ, picked at random so that test files running side by side rarely
 * try the same one (and retry when they do).
 */
export async function freePorts (count: number): Promise<number[]> {
  const high = ephemeralStart()
  const servers: Server[] = []
  try {
    for (let attempt = 0; servers.length < count; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`no free port between ${LOW_PORT} and ${high} after ${MAX_ATTEMPTS} attempts`)
      const port = high - LOW_PORT > count * 10 ? LOW_PORT + Math.floor(Math.random() * (high - LOW_PORT)) : 0
      const server = createServer()
      const bound = await new Promise<boolean>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EADDRINUSE') resolve(false); else reject(err) })
        server.listen(port, '127.0.0.1', () => resolve(true))
      })
      if (bound) servers.push(server)
    }
    return servers.map(server => {
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('no port assigned')
      return address.port
    })
  } finally {
    await Promise.all(servers.map(server => new Promise(resolve => server.close(resolve))))
  }
}
