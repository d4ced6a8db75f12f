// Request bodies: untrusted text -> a checked <body/> (XEP-0124 6, 7.1, 8).
// Pure: no HTTP, no sessions.
import { BoshError } from '../errors.js'
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

/** Parses and checks one request body; throws a BoshError (bad-request) on anything else. */
export function parseRequestBody (text: string): RequestBody {
  let doc
  try {
    doc = splitRoot(text)
  } catch (err) {
    if (!(err instanceof XmlRefusal)) throw err
    // A DOCTYPE could declare entities; it is refused, never read.
    throw new BoshError(err.kind === 'doctype' ? 'DOCTYPE' : 'MALFORMED_XML', err.message)
  }
  // XEP-0124 6: every request is a <body/> qualified by the httpbind namespace.
  if (doc.name !== 'body' || doc.uri !== NS_HTTPBIND) {
    throw new BoshError('NOT_BODY')
  }
  const rid = doc.attrs.rid
  if (rid === undefined) throw new BoshError('BAD_RID', 'missing')
  return { rid: ridValue(rid), attrs: doc.attrs, payload: doc.children }
}

function ridValue (raw: string): number {
  // XEP-0124 14.1: a positive integer below 2^53.
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RID) throw new BoshError('BAD_RID')
  return n
}

/** An unsigned integer attribute, or `fallback` when absent; bad-request when not a number. */
export function uintAttr (attrs: Readonly<Record<string, string>>, name: string, fallback: number): number {
  const raw = attrs[name]
  if (raw === undefined) return fallback
  if (!/^[0-9]{1,9}$/.test(raw.trim())) throw new BoshError('BAD_NUMBER', name)
  return Number(raw.trim())
}

/** xs:boolean: "true" or "1". */
export function boolAttr (attrs: Readonly<Record<string, string>>, name: string): boolean {
  const raw = attrs[name]
  return raw === 'true' || raw === '1'
}

/** What one request asks of its session besides its payload, read before anything changes. */
export interface RequestControls {
  /** XEP-0124 9.2: the highest rid whose response the client has (only in sessions with acks). */
  ack: number | null
  /** XEP-0124 10: seconds the client will be away. */
  pause: number | null
  /** XEP-0206 5: restart the stream. */
  restart: boolean
  /** XEP-0124 13 */
  terminate: boolean
  /** XEP-0124 12: no payload and nothing asked: what a polling client may not send too often. */
  empty: boolean
}

/** Reads the request's control attributes; a malformed number throws (bad-request) before the session changes. */
export function requestControls (body: RequestBody, acks: boolean): RequestControls {
  const { attrs } = body
  const restart = boolAttr(attrs, 'xmpp:restart')
  const terminate = attrs.type === 'terminate'
  return {
    ack: acks && attrs.ack !== undefined ? uintAttr(attrs, 'ack', 0) : null,
    pause: attrs.pause === undefined ? null : uintAttr(attrs, 'pause', 0),
    restart,
    terminate,
    empty: body.payload.length === 0 && !terminate && attrs.pause === undefined && !restart
  }
}
