// Request bodies: untrusted text -> a checked <body/> (XEP-0124 6, 7.1, 8).
// Pure: no HTTP, no sessions.
import { BoshCondition, BoshError } from '../errors.js'
import { splitRoot, XmlRefusal } from '../xml.js'
import { MAX_RID, NS_HTTPBIND } from './constants.js'

export interface RequestBody {
  /** XEP-0124 14.1 */
  rid: number
  /** Attributes by qualified name (`xmpp:restart`, `xml:lang`, …). */
  attrs: Readonly<Record<string, string>>
  /** Each payload element, serialized on its own, to be forwarded as one frame. */
  payload: string[]
}

/** Parses and checks one request body; throws BoshError(bad-request) on anything else. */
export function parseRequestBody (text: string): RequestBody {
  let doc
  try {
    doc = splitRoot(text)
  } catch (err) {
    if (!(err instanceof XmlRefusal)) throw err
    // A DOCTYPE could declare entities; it is refused, never read.
    throw new BoshError(BoshCondition.BAD_REQUEST, err.kind === 'doctype' ? 'DOCTYPE in request body' : 'malformed XML', err.message)
  }
  // XEP-0124 6: every request is a <body/> qualified by the httpbind namespace.
  if (doc.name !== 'body' || doc.uri !== NS_HTTPBIND) {
    throw new BoshError(BoshCondition.BAD_REQUEST, 'root is not <body xmlns=\'http://jabber.org/protocol/httpbind\'/>')
  }
  const rid = doc.attrs.rid
  if (rid === undefined) throw new BoshError(BoshCondition.BAD_REQUEST, 'missing rid')
  return { rid: ridValue(rid), attrs: doc.attrs, payload: doc.children }
}

function ridValue (raw: string): number {
  // XEP-0124 14.1: a positive integer below 2^53.
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RID) throw new BoshError(BoshCondition.BAD_REQUEST, 'rid is not an integer from 1 to 2^53-1')
  return n
}

/** An unsigned integer attribute, or `fallback` when absent; bad-request when not a number. */
export function uintAttr (attrs: Readonly<Record<string, string>>, name: string, fallback: number): number {
  const raw = attrs[name]
  if (raw === undefined) return fallback
  if (!/^[0-9]{1,9}$/.test(raw.trim())) throw new BoshError(BoshCondition.BAD_REQUEST, `attribute ${name} is not an unsigned integer`)
  return Number(raw.trim())
}

/** xs:boolean: "true" or "1". */
export function boolAttr (attrs: Readonly<Record<string, string>>, name: string): boolean {
  const raw = attrs[name]
  return raw === 'true' || raw === '1'
}
