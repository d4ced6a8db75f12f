// Properties of the link codec (lib/link/codec.ts) and control lines
// (lib/link/control.ts), docs/link-protocol.md "Frames" and "Control channel".
import fc from 'fast-check'
import { FrameDecoder, encodeFrame, type Frame } from '../../lib/link/codec.js'
import { formatControl, parseControl, type ControlMessage } from '../../lib/link/control.js'
import { CONTROL_WORDS, FRAME_ERRORS, HEADER_BYTES, LENGTH_DIGITS, MAX_CONNECTION_ID, type FrameErrorCode } from '../../lib/link/constants.js'
import { ErrorCode, FrameError, MegaphoneError } from '../../lib/errors.js'
import { bucket, type Coverage } from './coverage.js'
import type { FuzzProperty } from './property.js'

const connectionId = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1_000_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, MAX_CONNECTION_ID, MAX_CONNECTION_ID - 1, 2 ** 32, 2 ** 32 - 1) },
  { weight: 1, arbitrary: fc.maxSafeNat() }
)
const content = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s, 'utf8'))
)
const frames = fc.array(fc.record({ id: connectionId, content }), { maxLength: 12 })

/** How to cut a stream into chunks: at given points (taken modulo its length), or into pieces of one size (1: byte by byte). */
const cuts = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.nat(), { maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) }
)

function split (stream: Buffer, how: number[] | number): Buffer[] {
  const points = typeof how === 'number'
    ? Array.from({ length: Math.floor(stream.length / how) }, (_, i) => (i + 1) * how)
    : [...new Set(how.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let at = 0
  for (const p of points) {
    // Empty chunks too: a socket may deliver one.
    chunks.push(stream.subarray(at, p))
    at = p
  }
  chunks.push(stream.subarray(at))
  return chunks
}

interface Decoded { frames: Frame[], error: FrameError | null, maxPending: number }

/** Feeds `chunks` to a fresh decoder, copying each frame's content; any throw other than FrameError escapes. */
function decode (chunks: Buffer[], maxFrameBytes: number): Decoded {
  const decoder = new FrameDecoder(maxFrameBytes)
  const out: Frame[] = []
  let maxPending = 0
  for (const chunk of chunks) {
    try {
      for (const f of decoder.push(chunk)) out.push({ id: f.id, content: Buffer.from(f.content) })
    } catch (err) {
      if (!(err instanceof FrameError)) throw err
      // A spent decoder keeps refusing, with the same error.
      let again: unknown = null
      try { decoder.push(Buffer.from('0')) } catch (e) { again = e }
      if (again !== err) throw new Error('a failed decoder accepted more bytes')
      return { frames: out, error: err, maxPending }
    }
    maxPending = Math.max(maxPending, decoder.pendingBytes)
    if (decoder.pendingBytes > maxFrameBytes) throw new Error(`decoder buffers ${decoder.pendingBytes} bytes, over ${maxFrameBytes}`)
  }
  return { frames: out, error: null, maxPending }
}

/**
 * The spec's rules read once more, plainly, over the whole stream: the frames
 * before the first malformed header, and that header's error with the range
 * of bytes (its frame's header) the error must point into.
 */
function reference (stream: Buffer, maxFrameBytes: number): { frames: Frame[], error: { reason: FrameErrorCode, from: number, to: number } | null } {
  const out: Frame[] = []
  let at = 0
  while (at < stream.length) {
    const fail = (reason: FrameErrorCode): ReturnType<typeof reference> => ({ frames: out, error: { reason, from: at, to: at + HEADER_BYTES } })
    const header = stream.subarray(at, at + HEADER_BYTES)
    for (let i = 0; i < header.length; i++) {
      const b = header[i] as number
      const isDigit = b >= 0x30 && b <= 0x39
      if (i === LENGTH_DIGITS || i === HEADER_BYTES - 1) {
        if (b !== 0x7c) return fail('bad-separator')
      } else if (!isDigit) return fail(i < LENGTH_DIGITS ? 'bad-length' : 'bad-id')
      if (i === LENGTH_DIGITS - 1) {
        const length = Number(header.toString('latin1', 0, LENGTH_DIGITS))
        if (length < HEADER_BYTES) return fail('length-too-small')
        if (length > maxFrameBytes) return fail('frame-too-large')
      }
    }
    if (header.length < HEADER_BYTES) break
    const length = Number(header.toString('latin1', 0, LENGTH_DIGITS))
    const id = Number(header.toString('latin1', LENGTH_DIGITS + 1, HEADER_BYTES - 1))
    if (id > MAX_CONNECTION_ID) return fail('bad-id')
    if (at + length > stream.length) break
    out.push({ id, content: Buffer.from(stream.subarray(at + HEADER_BYTES, at + length)) })
    at += length
  }
  return { frames: out, error: null }
}

function sameFrames (a: Frame[], b: Frame[]): boolean {
  return a.length === b.length && a.every((f, i) => f.id === b[i]?.id && f.content.equals(b[i]!.content))
}

/**
 * A valid stream with some bytes changed, dropped or inserted: anywhere, or
 * at one byte of a frame's header, or its length replaced by random digits.
 */
const damagedStream = fc.record({
  frames: frames.filter((fs) => fs.length > 0),
  edits: fc.array(fc.record({
    frame: fc.nat(),
    at: fc.nat(),
    kind: fc.constantFrom('replace', 'delete', 'insert', 'header byte', 'length digits', 'id digits'),
    byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x30, 0x39, 0x7c, 0x2d, 0x20)),
    digits: fc.oneof(fc.stringMatching(/^[0-9]{10}$/), fc.constantFrom('0000000031', '0000000032', '9999999999')),
    id: fc.oneof(fc.stringMatching(/^[0-9]{20}$/), fc.constantFrom('09007199254740991', '09007199254740992', '99999999999999999999').map((d) => d.padStart(20, '0')))
  }), { minLength: 1, maxLength: 3 })
}).map(({ frames, edits }) => {
  const encoded = frames.map((f) => encodeFrame(f.id, f.content, Number.MAX_SAFE_INTEGER))
  const starts = encoded.map((_, i) => encoded.slice(0, i).reduce((n, b) => n + b.length, 0))
  let stream = Buffer.concat(encoded)
  const put = (at: number, bytes: Buffer, drop: number): void => {
    stream = Buffer.concat([stream.subarray(0, at), bytes, stream.subarray(at + drop)])
  }
  for (const e of edits) {
    const anywhere = e.at % (stream.length + 1)
    const header = starts[e.frame % starts.length] as number
    switch (e.kind) {
      case 'replace': put(anywhere, Buffer.from([e.byte]), 1); break
      case 'delete': put(anywhere, Buffer.alloc(0), 1); break
      case 'insert': put(anywhere, Buffer.from([e.byte]), 0); break
      case 'header byte': put(header + (e.at % HEADER_BYTES), Buffer.from([e.byte]), 1); break
      case 'length digits': put(header, Buffer.from(e.digits, 'latin1'), LENGTH_DIGITS); break
      case 'id digits': put(header + LENGTH_DIGITS + 1, Buffer.from(e.id, 'latin1'), e.id.length)
    }
  }
  return stream
})

const anyStream = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)) },
  { weight: 4, arbitrary: damagedStream }
)

const maxFrameBytes = fc.oneof(fc.constant(1_048_576), fc.integer({ min: HEADER_BYTES, max: 400 }))

const roundTrip: FuzzProperty = {
  name: 'link frames: encode then decode gives the same frames, whatever the split',
  build: (cov: Coverage) => fc.property(frames, cuts, (fs, fractions) => {
    const stream = Buffer.concat(fs.map((f) => encodeFrame(f.id, f.content)))
    const chunks = split(stream, fractions)
    cov.count('frames per stream', bucket(fs.length))
    cov.count('chunks per stream', bucket(chunks.length))
    const headerCuts = chunks.slice(0, -1).filter((_, i) => isInHeader(fs, chunks, i)).length
    cov.count('cuts inside a header', bucket(headerCuts))
    cov.max('stream bytes', stream.length)
    const got = decode(chunks, 1_048_576)
    if (got.error !== null) throw got.error
    cov.max('buffered bytes', got.maxPending)
    return sameFrames(got.frames, fs.map((f) => ({ id: f.id, content: f.content })))
  })
}

/** Whether the cut after chunk `i` falls inside a frame header. */
function isInHeader (fs: Array<{ content: Buffer }>, chunks: Buffer[], i: number): boolean {
  const cut = chunks.slice(0, i + 1).reduce((n, c) => n + c.length, 0)
  let at = 0
  for (const f of fs) {
    if (cut > at && cut < at + HEADER_BYTES) return true
    at += HEADER_BYTES + f.content.length
  }
  return false
}

const anyBytes: FuzzProperty = {
  name: 'link frames: any bytes, split anywhere, give the frames before the first bad header and then its coded FrameError',
  build: (cov: Coverage) => fc.property(anyStream, cuts, maxFrameBytes, (stream, fractions, max) => {
    const chunks = split(stream, fractions)
    const got = decode(chunks, max)
    const want = reference(stream, max)
    cov.count('outcome', got.error === null ? 'frames only' : got.error.reason)
    cov.count('frames before the end', bucket(got.frames.length))
    cov.max('buffered bytes', got.maxPending)
    if (want.error === null) return got.error === null && sameFrames(got.frames, want.frames)
    // The chunk that holds the bad header is refused whole: the frames before
    // it in that chunk are not returned (the link ends anyway).
    if (!sameFrames(got.frames, want.frames.slice(0, got.frames.length))) return false
    if (got.error === null) return false
    if (!FRAME_ERRORS.includes(got.error.reason) || got.error.code !== ErrorCode.LINK_MALFORMED_FRAME) return false
    return got.error.reason === want.error.reason && got.error.offset >= want.error.from && got.error.offset <= want.error.to
  })
}

// --- control lines -----------------------------------------------------------

const token = fc.stringMatching(/^[\x21-\x7e]{1,64}$/)
const version = fc.oneof(fc.constant(1), fc.maxSafeNat())
const controlMessage: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record({ word: fc.constant('challenge' as const), version, nonce: fc.stringMatching(/^[0-9a-f]{32}$/) }),
  fc.record({ word: fc.constant('auth' as const), version, hmac: fc.stringMatching(/^[0-9a-f]{64}$/), maxFrameBytes: fc.maxSafeNat() }),
  fc.record({ word: fc.constant('ready' as const), version, maxFrameBytes: fc.maxSafeNat(), heartbeatTimeoutMs: fc.maxSafeNat() }),
  fc.record({ word: fc.constant('denied' as const), reason: fc.array(token, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')) }),
  fc.record({ word: fc.constant('open' as const), id: fc.integer({ min: 1, max: MAX_CONNECTION_ID }), ip: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ word: fc.constant('close' as const), id: fc.integer({ min: 1, max: MAX_CONNECTION_ID }), reason: token }),
  fc.record({ word: fc.constant('ping' as const), token }),
  fc.record({ word: fc.constant('pong' as const), token }),
  fc.record({ word: fc.constant('bye' as const), reason: fc.array(token, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')) })
)

const controlRoundTrip: FuzzProperty = {
  name: 'control lines: parse(format(message)) is the message',
  build: (cov: Coverage) => fc.property(controlMessage, (msg) => {
    cov.count('word', msg.word)
    const parsed = parseControl(Buffer.from(formatControl(msg), 'latin1'))
    return JSON.stringify(parsed) === JSON.stringify(msg)
  })
}

/** Lines near the grammar: a known word with arguments of every shape, or any text at all. */
const word = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e]{1,70}$/),
  fc.stringMatching(/^[0-9]{1,25}$/),
  fc.stringMatching(/^[0-9a-f]{31,33}$/),
  fc.stringMatching(/^[0-9a-f]{63,65}$/),
  fc.constantFrom('', '0', '65536', '9007199254740992', '::1', '127.0.0.1', '1.2.3', 'malformed-frame', 'bad-id'),
  fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()),
  fc.string({ unit: 'binary', maxLength: 8 })
)
const controlLine = fc.oneof(
  fc.tuple(fc.constantFrom('challenge', 'auth', 'ready', 'denied', 'open', 'close', 'ping', 'pong', 'bye', 'hello'), fc.array(word, { maxLength: 5 }))
    .map(([w, args]) => [w, ...args].join(' ')),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a).toString('latin1'))
)

const controlAnyLine: FuzzProperty = {
  name: 'control lines: any line gives a message or LINK_MALFORMED_CONTROL, and a parsed message formats back to a line that parses the same',
  build: (cov: Coverage) => fc.property(controlLine, (line) => {
    let msg: ControlMessage
    try {
      msg = parseControl(line)
    } catch (err) {
      if (!(err instanceof MegaphoneError) || err.code !== ErrorCode.LINK_MALFORMED_CONTROL) throw err
      cov.count('outcome', `malformed ${knownWord(line)}`)
      return true
    }
    cov.count('outcome', `parsed ${msg.word}`)
    return JSON.stringify(parseControl(formatControl(msg))) === JSON.stringify(msg)
  })
}

function knownWord (line: string): string {
  const w = line.split(' ')[0] ?? ''
  return (CONTROL_WORDS as readonly string[]).includes(w) ? w : 'unknown word'
}

export const LINK_PROPERTIES: FuzzProperty[] = [roundTrip, anyBytes, controlRoundTrip, controlAnyLine]
