import t from 'tap'
import { createServer, type ServerResponse } from 'node:http'
import { limitIdleConnections } from '../lib/idle-connections.js'
import { openRaw, type RawConnection } from './helpers/raw-http.js'
import { waitFor } from './helpers/ejabberd.js'

t.test('past idleConnectionsPerAddress idle keep-alive connections, the one idle longest is closed; a connection with a request in progress is never idle', async (t) => {
  const held: ServerResponse[] = []
  const server = createServer((req, res) => {
    if (req.url === '/hold') held.push(res)
    else res.end('ok')
  })
  const closedFor: string[] = []
  limitIdleConnections(server, { perAddress: 2, onClose: (address) => { closedFor.push(address) } })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as { port: number }).port

  const request = async (c: RawConnection, path: string): Promise<void> => {
    await c.connected
    c.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
  }
  // Two held requests: busy, whatever their number.
  const busy = [openRaw(port, '127.0.0.5'), openRaw(port, '127.0.0.5')]
  for (const c of busy) await request(c, '/hold')
  await waitFor(() => held.length === 2, 5_000, 'the held requests')
  // Five answered ones from the same address: idle afterwards.
  const idle: RawConnection[] = []
  for (let i = 0; i < 5; i++) {
    const c = openRaw(port, '127.0.0.5')
    idle.push(c)
    await request(c, '/')
    await waitFor(() => c.received.includes('ok') || c.closed, 5_000, 'the answer')
  }
  await waitFor(() => idle.filter((c) => c.closed).length === 3, 5_000, 'three idle connections closed')
  t.same(idle.map((c) => c.closed), [true, true, true, false, false], 'the oldest idle ones went')
  t.same(busy.map((c) => c.closed), [false, false], 'the held requests are untouched')
  t.same(closedFor, ['127.0.0.5', '127.0.0.5', '127.0.0.5'])
  // An answered held request makes its connection idle: now one too many again.
  held[0]?.end('done')
  await waitFor(() => idle[3]?.closed === true, 5_000, 'the next oldest idle connection closed')
  t.equal(busy[0]?.closed, false, 'the connection that just went idle stays')
  // Another address has its own count.
  const other = openRaw(port, '127.0.0.6')
  await request(other, '/')
  await waitFor(() => other.received.includes('ok'), 5_000, 'the answer')
  t.equal(closedFor.length, 4)
})
