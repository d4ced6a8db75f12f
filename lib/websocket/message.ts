// RFC 7395 messages, pure: what one client message is, and the few
// messages Megaphone writes itself (a stream header before an early error,
// stream errors, the close with see-other-uri). Everything else a client
// sees comes from ejabberd over the link as it is.
import { randomBytes } from 'node:crypto'
import { NS_FRAMING, NS_STREAM } from '../link/constants.js'
import { CLOSE_ELEMENT } from '../link/framing.js'
import { XmlRefusal, checkElement, escapeXML } from '../xml.js'

export { CLOSE_ELEMENT }

/** RFC 6120 4.9.3 conditions that Megaphone itself sends on a WebSocket. */
export type StreamCondition =
  | 'host-unknown'
  | 'invalid-namespace'
  | 'not-well-formed'
  | 'policy-violation'
  | 'restricted-xml'
  | 'unsupported-encoding'
  | 'remote-connection-failed'
  | 'internal-server-error'
  | 'system-shutdown'
  | 'connection-timeout'

/** One client message, classified. */
export type ClientMessage =
  | { kind: 'open', to: string }
  | { kind: 'close' }
  | { kind: 'element' }

/** A message refused: the stream error it earns, and why (for the log; never quotes the message). */
export class MessageRefusal extends Error {
  readonly condition: StreamCondition
  constructor (condition: StreamCondition, reason: string) {
    super(reason)
    this.condition = condition
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads one WebSocket message from a client. RFC 7395 3.2: text messages
 * only, in UTF-8; 3.3.3: each is exactly one complete, well-formed element
 * (stream header and end included, as `<open/>` and `<close/>` of the
 * framing namespace). Returns the text to forward and what it is, or throws
 * a MessageRefusal.
 */
export function readMessage (data: Buffer, isBinary: boolean, maxBytes: number): { text: string, message: ClientMessage } {
  if (isBinary) throw new MessageRefusal('unsupported-encoding', 'binary message (RFC 7395 3.2: text only)')
  // RFC 6120 13.12 (stanza size): past the configured bound, a policy violation.
  if (data.length > maxBytes) throw new MessageRefusal('policy-violation', `message of ${data.length} bytes, over ${maxBytes}`)
  let text: string
  try {
    text = utf8.decode(data)
  } catch {
    throw new MessageRefusal('unsupported-encoding', 'message is not UTF-8')
  }
  let root
  try {
    root = checkElement(text)
  } catch (err) {
    if (!(err instanceof XmlRefusal)) throw err
    // RFC 6120 4.9.3.18: a DTD is restricted XML; anything else that is not one element is not well-formed.
    if (err.kind === 'doctype') throw new MessageRefusal('restricted-xml', err.message)
    throw new MessageRefusal('not-well-formed', `not one well-formed element: ${err.message}`)
  }
  if (root.uri === NS_FRAMING && root.name === 'open') return { text, message: { kind: 'open', to: (root.attrs.to ?? '').toLowerCase() } }
  if (root.uri === NS_FRAMING && root.name === 'close') return { text, message: { kind: 'close' } }
  return { text, message: { kind: 'element' } }
}

/**
 * RFC 6120 4.9.1.2: an error before the server's own stream header is sent
 * after one. Megaphone's header for that case (RFC 7395 3.4), with a stream
 * id of its own since ejabberd never saw the stream.
 */
export function streamHeader (from: string): string {
  return `<open xmlns='${NS_FRAMING}' from='${escapeXML(from)}' id='${randomBytes(8).toString('hex')}' version='1.0' xml:lang='en'/>`
}

/** RFC 6120 4.9: a stream error; RFC 7395 3.6: the `<close/>` follows it. */
export function streamError (condition: StreamCondition): string {
  return `<stream:error xmlns:stream='${NS_STREAM}'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`
}

/** RFC 7395 3.6.1: the close that sends the client to another endpoint. */
export function closeSeeOther (uri: string): string {
  return `<close xmlns='${NS_FRAMING}' see-other-uri='${escapeXML(uri)}'/>`
}

/**
 * The kind of a frame from ejabberd for this side's bookkeeping: its header,
 * its close, or anything else. Read from the Buffer's first bytes, since the
 * frame goes to the WebSocket as it is; lib/link/framing.ts frameKind reads
 * the same names from a string for BOSH.
 */
export function serverFrameKind (content: Buffer): 'open' | 'close' | 'other' {
  // Frames start with `<open ` or `<close ` exactly (docs/link-protocol.md "Session content").
  if (content[0] !== 0x3c) return 'other'
  const head = content.toString('latin1', 1, 7)
  if (head.startsWith('open ')) return 'open'
  if (head === 'close ' || head === 'close/') return 'close'
  return 'other'
}
