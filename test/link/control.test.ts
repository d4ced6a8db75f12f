import t from 'tap'
import { formatControl, parseControl, type ControlMessage } from '../../lib/link/control.js'
import { ErrorCode } from '../../lib/errors.js'

const messages: ControlMessage[] = [
  { word: 'challenge', version: 1, nonce: '0123456789abcdef0123456789abcdef' },
  { word: 'auth', version: 1, hmac: 'a'.repeat(64), maxFrameBytes: 1048576 },
  { word: 'ready', version: 1, maxFrameBytes: 65536, heartbeatTimeoutMs: 15000 },
  { word: 'denied', reason: 'bad-secret' },
  { word: 'open', id: 12, ip: '192.0.2.7', port: 51234 },
  { word: 'open', id: 13, ip: '2001:db8::1', port: 443 },
  { word: 'close', id: 12, reason: 'normal' },
  { word: 'ping', token: '7' },
  { word: 'pong', token: '7' },
  { word: 'bye', reason: 'malformed-frame bad-length' }
]

t.test('every control message survives a format and parse round trip (docs/link-protocol.md Control channel)', async (t) => {
  for (const msg of messages) t.same(parseControl(Buffer.from(formatControl(msg))), msg, msg.word)
})

const rejects: Array<[string, string]> = [
  ['an unknown word', 'hello 1'],
  ['an empty message', ''],
  ['a missing argument', 'open 12 127.0.0.1'],
  ['an extra argument', 'ping 1 2'],
  ['connection ID 0 in open', 'open 0 127.0.0.1 1'],
  ['a connection ID above 2^53 - 1', 'close 99999999999999999999 normal'],
  ['a port over 65535', 'open 5 127.0.0.1 70000'],
  ['an address that is not an IP', 'open 5 example.com 80'],
  ['a short nonce', 'challenge 1 abc'],
  ['an HMAC of the wrong length', 'auth 1 abcd 1048576'],
  ['double spaces', 'close  5 normal'],
  ['a trailing newline', 'ping 1\n']
]

for (const [what, line] of rejects) {
  t.test(`rejects ${what} with a coded error`, async (t) => {
    t.throws(() => parseControl(line), { code: ErrorCode.LINK_MALFORMED_CONTROL })
  })
}
