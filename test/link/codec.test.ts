import t from 'tap'
import { FrameDecoder, encodeFrame, type Frame } from '../../lib/link/codec.js'
import { FrameError, ErrorCode, MegaphoneError } from '../../lib/errors.js'
import { HEADER_BYTES } from '../../lib/link/constants.js'

const decodeAll = (decoder: FrameDecoder, chunks: Buffer[]): Frame[] =>
  chunks.flatMap((chunk) => decoder.push(chunk)).map((f) => ({ id: f.id, content: Buffer.from(f.content) }))

// A small deterministic PRNG so a failing split can be reproduced from its seed.
function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

t.test('encodes the header as zero-padded length and connection ID (docs/link-protocol.md Frames)', async (t) => {
  const frame = encodeFrame(7, '<a/>hi')
  t.equal(frame.toString(), '0000000038|00000000000000000007|<a/>hi')
  t.equal(encodeFrame(0, '').toString(), '0000000032|00000000000000000000|')
})

t.test('length counts UTF-8 bytes, not characters', async (t) => {
  const content = '<message><body>héllo → 世界 🎉</body></message>'
  const frame = encodeFrame(42, content)
  const expected = HEADER_BYTES + Buffer.byteLength(content)
  t.ok(expected > HEADER_BYTES + content.length, 'content has multi-byte characters')
  t.equal(frame.length, expected)
  t.equal(Number(frame.subarray(0, 10).toString()), expected)
  const [decoded] = new FrameDecoder().push(frame)
  t.equal(decoded?.content.toString('utf8'), content)
})

t.test('encoder refuses a frame over the peer maximum', async (t) => {
  t.throws(() => encodeFrame(1, 'x'.repeat(100), 100), { code: ErrorCode.LINK_FRAME_TOO_LARGE })
  t.equal(encodeFrame(1, 'x'.repeat(68), 100).length, 100)
})

t.test('decodes many frames from one chunk and each byte on its own', async (t) => {
  const frames = [
    { id: 1, content: Buffer.from('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>') },
    { id: 0, content: Buffer.from('ping 1') },
    { id: 99999, content: Buffer.alloc(0) },
    { id: Number.MAX_SAFE_INTEGER, content: Buffer.from('ünïcødé ✓') }
  ]
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f.id, f.content)))
  t.same(decodeAll(new FrameDecoder(), [stream]), frames, 'one chunk')
  const bytes = [...stream].map((b) => Buffer.from([b]))
  t.same(decodeAll(new FrameDecoder(), bytes), frames, 'one byte at a time')
})

t.test('decodes every random split of a stream identically', async (t) => {
  const rnd = prng(20261122)
  const frames: Frame[] = []
  for (let i = 0; i < 200; i++) {
    const size = Math.floor(rnd() * 300)
    const content = Buffer.alloc(size)
    for (let j = 0; j < size; j++) content[j] = Math.floor(rnd() * 256)
    frames.push({ id: Math.floor(rnd() * 1_000_000), content })
  }
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f.id, f.content)))
  for (let trial = 0; trial < 50; trial++) {
    const chunks: Buffer[] = []
    for (let at = 0; at < stream.length;) {
      const n = 1 + Math.floor(rnd() * 97)
      chunks.push(stream.subarray(at, at + n))
      at += n
    }
    const decoder = new FrameDecoder()
    const got = decodeAll(decoder, chunks)
    if (got.length !== frames.length || !got.every((f, i) => f.id === frames[i]?.id && f.content.equals(frames[i]!.content))) {
      t.fail(`split trial ${trial} decoded differently`)
      return
    }
    t.equal(decoder.pendingBytes, 0)
  }
  t.pass('50 random splits of 200 frames decoded identically')
})

t.test('keeps a partial frame pending until its last byte arrives', async (t) => {
  const frame = encodeFrame(3, 'abcdef')
  const decoder = new FrameDecoder()
  t.same(decoder.push(frame.subarray(0, 35)), [])
  t.equal(decoder.pendingBytes, 35)
  const [f] = decoder.push(frame.subarray(35))
  t.equal(f?.content.toString(), 'abcdef')
})

const malformed: Array<[string, string, string]> = [
  ['non-digit in the length', '00000000x8|00000000000000000001|abcdef', 'bad-length'],
  ['space-padded length', '        38|00000000000000000001|abcdef', 'bad-length'],
  ['negative length', '-000000038|00000000000000000001|abcdef', 'bad-length'],
  ['missing first separator', '0000000038:00000000000000000001|abcdef', 'bad-separator'],
  ['missing second separator', '0000000038|00000000000000000001:abcdef', 'bad-separator'],
  ['short connection ID', '0000000037|0000000000000000001|abcdef', 'bad-id'],
  ['non-digit in the connection ID', '0000000038|0000000000000000000a|abcdef', 'bad-id'],
  ['length under the header size', '0000000031|00000000000000000001|', 'length-too-small'],
  ['zero length', '0000000000|00000000000000000001|', 'length-too-small'],
  ['length over the maximum', '0000001025|00000000000000000001|', 'frame-too-large'],
  ['connection ID above 2^53 - 1', '0000000032|99999999999999999999|', 'bad-id']
]

for (const [what, input, reason] of malformed) {
  t.test(`rejects a header with ${what} as ${reason}, however it is split`, async (t) => {
    for (const chunkSize of [1, 7, input.length]) {
      const decoder = new FrameDecoder(1024)
      const bytes = Buffer.from(input, 'latin1')
      let error: unknown
      try {
        for (let at = 0; at < bytes.length; at += chunkSize) decoder.push(bytes.subarray(at, at + chunkSize))
      } catch (err) {
        error = err
      }
      t.type(error, FrameError, `chunks of ${chunkSize}`)
      t.equal((error as FrameError).reason, reason)
      t.equal((error as FrameError).code, ErrorCode.LINK_MALFORMED_FRAME)
      // A spent decoder keeps failing rather than resynchronising on garbage.
      t.throws(() => decoder.push(Buffer.from('0000000032|00000000000000000001|')), FrameError)
    }
  })
}

t.test('rejects a bad header byte before its body arrives', async (t) => {
  const decoder = new FrameDecoder()
  t.throws(() => decoder.push(Buffer.from('0000x')), { name: 'FrameError', message: /bad-length\) at byte 4/ })
})

t.test('an oversized length is refused on its tenth digit, without buffering', async (t) => {
  const decoder = new FrameDecoder(1000)
  t.throws(() => decoder.push(Buffer.from('9999999999')), { name: 'FrameError', message: /frame-too-large/ })
  t.equal(decoder.pendingBytes, 10)
})

t.test('the encoder rejects connection IDs it cannot represent', async (t) => {
  t.throws(() => encodeFrame(-1, ''))
  t.throws(() => encodeFrame(1.5, ''))
  t.throws(() => encodeFrame(Number.MAX_SAFE_INTEGER + 2, ''))
  t.type(new MegaphoneError(ErrorCode.LINK_DOWN, 'x'), Error)
})

t.test('random bytes never crash the decoder: frames or a FrameError, nothing else', async (t) => {
  const rnd = prng(7)
  let rejected = 0
  for (let trial = 0; trial < 500; trial++) {
    const decoder = new FrameDecoder(4096)
    // Half the trials start with a valid header, so garbage also lands in bodies.
    const head = trial % 2 === 0 ? encodeFrame(1, 'ok') : Buffer.alloc(0)
    const junk = Buffer.alloc(1 + Math.floor(rnd() * 200))
    for (let i = 0; i < junk.length; i++) junk[i] = trial % 3 === 0 ? 0x30 + Math.floor(rnd() * 10) : Math.floor(rnd() * 256)
    try {
      decoder.push(Buffer.concat([head, junk]))
    } catch (err) {
      if (!(err instanceof FrameError)) {
        t.fail(`trial ${trial} threw ${String(err)}`)
        return
      }
      rejected++
    }
  }
  t.ok(rejected > 0, `${rejected} of 500 junk streams rejected with a FrameError`)
})
