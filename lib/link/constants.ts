// The link protocol's constants (docs/link-protocol.md). The Erlang side keeps
// the same values in ejabberd/include/megaphone_link.hrl;
// test/link/contract.test.ts fails when the two drift apart.

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

export const CONTROL_WORDS = [
  'challenge',
  'auth',
  'ready',
  'denied',
  'open',
  'close',
  'ping',
  'pong',
  'bye'
] as const
export type ControlWord = (typeof CONTROL_WORDS)[number]

/** RFC 7395 framing namespace, used for stream open and close inside sessions. */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
