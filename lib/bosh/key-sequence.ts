// XEP-0124 15: a session protected by a key sequence. The client sends
// `newkey` (the SHA-1 of its next key) at creation; each request's `key`
// must hash to the previous one, and may start a new sequence with `newkey`.
import { createHash } from 'node:crypto'

/**
 * 15.4: the hash the next request's key must have, or null when `key` is
 * missing or does not hash to `expected`.
 */
export function nextKey (expected: string, key: string | undefined, newkey: string | undefined): string | null {
  if (key === undefined || createHash('sha1').update(key).digest('hex') !== expected) return null
  return newkey?.toLowerCase() ?? key
}
