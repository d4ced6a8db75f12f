import t from 'tap'
import { createServer, type ServerResponse } from 'node:http'
import { limitIdleConnections } from '../lib/idle-connections.js'
import { openRaw, type RawConnection } from './helpers/raw-http.js'
import { waitFor } from './helpers/ejabberd.js'

t.test('past idleConnectionsPerAddress idle keep-alive connections, responses say Connection: close (RFC 9112 9.6); past twice that, the one idle longest is closed', async (t) => {
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
  // Five answered ones from the same address, one after another: the first two stay, idle.
  const idle: RawConnection[] = []
  for (let i = 0; i < 5; i++) {
    const c = openRaw(port, '127.0.0.5')
    idle.push(c)
    await request(c, '/')
    await waitFor(() => c.received.includes('ok') || c.closed, 5_000, 'the answer')
  }
  await waitFor(() => idle.filter((c) => c.closed).length === 3, 5_000, 'three connections closed')
  t.same(idle.map((c) => c.closed), [false, false, true, true, true], 'the ones past the cap were not kept')
  t.ok(idle.slice(2).every((c) => /\r\nConnection: close\r\n/i.test(c.received)), 'their responses said Connection: close')
  t.same(busy.map((c) => c.closed), [false, false], 'the held requests are untouched')
  t.same(closedFor, ['127.0.0.5', '127.0.0.5', '127.0.0.5'])
  // Requests in flight together, all begun while the address had no idle connection: past twice the cap, the oldest idle ones go.
  const together = Array.from({ length: 6 }, () => openRaw(port, '127.0.0.7'))
  for (const c of together) await request(c, '/hold')
  await waitFor(() => held.length === 8, 5_000, 'six more held requests')
  for (const res of held.slice(2)) res.end('done')
  await waitFor(() => together.filter((c) => c.closed).length === 2, 5_000, 'two closed')
  t.same(together.map((c) => c.closed), [true, true, false, false, false, false], 'the two idle longest')
  t.equal(closedFor.filter((a) => a === '127.0.0.7').length, 2)
})
