// Free loopback ports for servers the tests start themselves.
import { createServer, type Server } from 'node:net'

/** Ports the kernel hands out for port 0, all held at once so they differ. */
export async function freePorts (count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
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
