// The link protocol's constants and words (docs/link-protocol.md). The Erlang
// side keeps the same values in ejabberd/include/megaphone_link.hrl;
// test/link/contract.test.ts reads the document's tables and both files, and
// fails when any value or word differs between the three.

export const PROTOCOL_VERSION = 1
export const LENGTH_DIGITS = 10
export const ID_DIGITS = 20
/** `<10 digits>|<20 digits>|` */
export const HEADER_BYTES = LENGTH_DIGITS + 1 + ID_DIGITS + 1
export const SEPARATOR = '|'
export const SEPARATOR_BYTE = 0x7c
export const CONTROL_ID = 0
/** Largest frame, header included, unless configured otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 1_048_576
/**
 * The front end issues connection IDs from 1 up and keeps them as JavaScript
 * numbers, so it never goes past 2^53 - 1; a frame naming a larger ID is malformed.
 */
export const MAX_CONNECTION_ID = Number.MAX_SAFE_INTEGER
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15_000

/** The first word of every control message (docs "Control channel"). */
export const CONTROL_WORDS = ['challenge', 'auth', 'ready', 'denied', 'open', 'close', 'ping', 'pong', 'bye'] as const
export type ControlWord = (typeof CONTROL_WORDS)[number]

/** Why the listener refused a handshake: `denied <reason>` (docs "Handshake"). */
export const DENIED_REASONS = ['bad-secret', 'bad-version', 'malformed-auth'] as const
export type DeniedReason = (typeof DENIED_REASONS)[number]

/**
 * Why a connection ID ended: `close <id> <reason>` (docs "Sessions"). The
 * listener sends the first six; the front end sends `normal`, `timeout`,
 * `error` and `shutdown`.
 */
export const CLOSE_REASONS = ['normal', 'stream-error', 'unknown-id', 'open-failed', 'frame-too-large', 'shutdown', 'timeout', 'error'] as const
export type CloseReason = (typeof CLOSE_REASONS)[number]

/** Why a side ends the link: `bye <reason>` (docs "Ending the link"); `malformed-frame` is followed by a frame error. */
export const BYE_REASONS = ['malformed-frame', 'handshake-required', 'handshake-timeout', 'heartbeat-timeout', 'duplicate-id', 'unknown-control', 'shutdown'] as const
export type ByeReason = (typeof BYE_REASONS)[number]

/** Why a frame header was rejected (docs "Frames"); also the word after `bye malformed-frame`. */
export const FRAME_ERRORS = ['bad-length', 'bad-id', 'bad-separator', 'length-too-small', 'frame-too-large'] as const
export type FrameErrorCode = (typeof FRAME_ERRORS)[number]

/** RFC 7395 framing namespace: the stream's `<open/>` and `<close/>` inside sessions. */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
/** RFC 6120 streams namespace, bound to the `stream:` prefix of features and errors. */
export const NS_STREAM = 'http://etherx.jabber.org/streams'

/**
 * The qualified names of the elements the listener writes for stream events
 * (docs "Session content"), in this order: the stream header, the stream's
 * end, the features, a stream error. lib/link/framing.ts recognises them.
 */
export const FRAMING_ELEMENTS = ['open', 'close', 'stream:features', 'stream:error'] as const

export function isCloseReason (word: string): word is CloseReason {
  return (CLOSE_REASONS as readonly string[]).includes(word)
}
