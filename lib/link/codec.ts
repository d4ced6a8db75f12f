// Frames on the link: `<10-digit length>|<20-digit connection ID>|<content>`
// (docs/link-protocol.md "Frames"). Pure: bytes in, frames out; no sockets.
import assert from 'node:assert'
import { FrameError, ErrorCode, MegaphoneError } from '../errors.js'
import {
  DEFAULT_MAX_FRAME_BYTES,
  HEADER_BYTES,
  ID_DIGITS,
  LENGTH_DIGITS,
  MAX_CONNECTION_ID,
  SEPARATOR_BYTE,
  type FrameErrorCode
} from './constants.js'

export interface Frame {
  id: number
  /**
   * May be a view into the socket's chunk: a consumer that keeps it beyond the
   * current tick should decode it (`toString()`) or copy it, so that a small
   * stanza does not pin a 64 KiB read buffer.
   */
  content: Buffer
}

const DIGIT_0 = 0x30
const DIGIT_9 = 0x39
const ID_START = LENGTH_DIGITS + 1
const ID_SEPARATOR_AT = HEADER_BYTES - 1

/**
 * Encodes one frame. The length counts bytes (UTF-8 for strings), header included.
 * Throws LINK_FRAME_TOO_LARGE when the frame would exceed `maxFrameBytes`.
 */
export function encodeFrame (id: number, content: Buffer | string, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  assert(Number.isSafeInteger(id) && id >= 0 && id <= MAX_CONNECTION_ID, 'connection ID out of range')
  const contentBytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length
  const total = HEADER_BYTES + contentBytes
  if (total > maxFrameBytes) {
    throw new MegaphoneError(ErrorCode.LINK_FRAME_TOO_LARGE,
      `frame of ${total} bytes for connection ${id} exceeds the peer's maximum of ${maxFrameBytes}`)
  }
  const frame = Buffer.allocUnsafe(total)
  frame.write(String(total).padStart(LENGTH_DIGITS, '0'), 0, 'latin1')
  frame[LENGTH_DIGITS] = SEPARATOR_BYTE
  frame.write(String(id).padStart(ID_DIGITS, '0'), ID_START, 'latin1')
  frame[ID_SEPARATOR_AT] = SEPARATOR_BYTE
  if (typeof content === 'string') frame.write(content, HEADER_BYTES, 'utf8')
  else content.copy(frame, HEADER_BYTES)
  return frame
}

/**
 * Streaming decoder: feed it chunks split anywhere, get whole frames back.
 * A bad header byte is rejected as soon as it arrives, before any body is awaited.
 * After an error the decoder is spent: the link must be reset.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number
  #header = Buffer.alloc(HEADER_BYTES)
  #headerFill = 0
  #length = 0
  #id = 0
  /** Body being assembled across chunks, or null while reading a header. */
  #body: Buffer | null = null
  #bodyFill = 0
  /** Bytes consumed since the link opened, for error offsets. */
  #offset = 0
  #failed: FrameError | null = null

  constructor (maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    assert(Number.isSafeInteger(maxFrameBytes) && maxFrameBytes >= HEADER_BYTES, 'maxFrameBytes must hold a header')
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes received and not yet returned as part of a frame. */
  get pendingBytes (): number {
    return this.#headerFill + this.#bodyFill
  }

  /** Returns the frames completed by `chunk`; throws FrameError on a malformed header. */
  push (chunk: Buffer): Frame[] {
    if (this.#failed !== null) throw this.#failed
    const frames: Frame[] = []
    let at = 0
    while (at < chunk.length) {
      if (this.#body === null) {
        at = this.#readHeader(chunk, at)
        if (this.#headerFill < HEADER_BYTES) break
        const bodyBytes = this.#length - HEADER_BYTES
        // Whole body in this chunk: hand out a view, no copy.
        if (chunk.length - at >= bodyBytes) {
          frames.push({ id: this.#id, content: chunk.subarray(at, at + bodyBytes) })
          at += bodyBytes
          this.#offset += bodyBytes
          this.#headerFill = 0
          continue
        }
        this.#body = Buffer.allocUnsafe(bodyBytes)
        this.#bodyFill = 0
      }
      const n = Math.min(this.#body.length - this.#bodyFill, chunk.length - at)
      chunk.copy(this.#body, this.#bodyFill, at, at + n)
      this.#bodyFill += n
      this.#offset += n
      at += n
      if (this.#bodyFill === this.#body.length) {
        frames.push({ id: this.#id, content: this.#body })
        this.#body = null
        this.#bodyFill = 0
        this.#headerFill = 0
      }
    }
    return frames
  }

  #readHeader (chunk: Buffer, start: number): number {
    let at = start
    while (this.#headerFill < HEADER_BYTES && at < chunk.length) {
      const byte = chunk[at] as number
      const pos = this.#headerFill
      if (pos === LENGTH_DIGITS || pos === ID_SEPARATOR_AT) {
        if (byte !== SEPARATOR_BYTE) {
          this.#fail('bad-separator', `expected '|' at header byte ${pos}, got 0x${byte.toString(16)}`)
        }
      } else if (byte < DIGIT_0 || byte > DIGIT_9) {
        const reason = pos < LENGTH_DIGITS ? 'bad-length' : 'bad-id'
        this.#fail(reason, `non-digit 0x${byte.toString(16)} at header byte ${pos}`)
      }
      this.#header[pos] = byte
      this.#headerFill++
      this.#offset++
      at++
      if (this.#headerFill === LENGTH_DIGITS) this.#checkLength()
    }
    if (this.#headerFill === HEADER_BYTES) {
      const id = Number(this.#header.toString('latin1', ID_START, ID_SEPARATOR_AT))
      if (id > MAX_CONNECTION_ID) this.#fail('bad-id', `connection ID above ${MAX_CONNECTION_ID}`)
      this.#id = id
    }
    return at
  }

  #checkLength (): void {
    const length = Number(this.#header.toString('latin1', 0, LENGTH_DIGITS))
    if (length < HEADER_BYTES) {
      this.#fail('length-too-small', `length ${length} is under the ${HEADER_BYTES}-byte header`)
    }
    if (length > this.maxFrameBytes) {
      this.#fail('frame-too-large', `length ${length} exceeds the maximum of ${this.maxFrameBytes}`)
    }
    this.#length = length
  }

  #fail (reason: FrameErrorCode, detail: string): never {
    // The offset is that of the offending byte, or just past the length field
    // for length errors, counted from the link's first byte.
    this.#failed = new FrameError(reason, this.#offset, detail)
    throw this.#failed
  }
}
