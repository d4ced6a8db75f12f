// Elements from ejabberd waiting for the client's next request (XEP-0124 8),
// with a bound: a client that stopped polling while ejabberd keeps sending (a
// busy room, say) must not grow the process without bound.
import { MAX_PENDING_OUTPUT_BYTES } from './constants.js'

/** Allocated only while there is output waiting: an idle session holds none. */
export class OutputBuffer {
  #elements: string[] = []
  /** UTF-16 units, about bytes. */
  #size = 0

  get size (): number { return this.#size }

  /** Adds one element; false when the buffer is now over its bound. */
  push (xml: string): boolean {
    this.#elements.push(xml)
    this.#size += xml.length
    return this.#size <= MAX_PENDING_OUTPUT_BYTES
  }

  /** Everything waiting, as one payload, in order. */
  join (): string {
    return this.#elements.join('')
  }
}
