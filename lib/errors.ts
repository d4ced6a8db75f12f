// Every error Megaphone raises, each with a stable code. Codes never change
// meaning once released; logs and tests match on them, never on messages.
import type { FrameErrorCode } from './link/constants.js'

export const ErrorCode = {
  /** A frame header broke docs/link-protocol.md "Frames"; the link is reset. */
  LINK_MALFORMED_FRAME: 'MEGAPHONE_ERR_LINK_MALFORMED_FRAME',
  /** A control message (connection ID 0) could not be parsed. */
  LINK_MALFORMED_CONTROL: 'MEGAPHONE_ERR_LINK_MALFORMED_CONTROL',
  /** A frame Megaphone was asked to send is larger than the peer accepts. */
  LINK_FRAME_TOO_LARGE: 'MEGAPHONE_ERR_LINK_FRAME_TOO_LARGE',
  /** A session was opened, or written to, while the link is not ready. */
  LINK_DOWN: 'MEGAPHONE_ERR_LINK_DOWN',
  /** The link's write buffer is over its hard bound: the caller ignored backpressure. */
  LINK_SATURATED: 'MEGAPHONE_ERR_LINK_SATURATED',
  /** A session wrote to a connection ID that is no longer open (ejabberd or the link ended it). */
  LINK_SESSION_CLOSED: 'MEGAPHONE_ERR_LINK_SESSION_CLOSED',
  /** The link was closed for good by its owner. */
  LINK_CLOSED: 'MEGAPHONE_ERR_LINK_CLOSED',
  /** ejabberd refused the handshake (wrong secret, version). */
  LINK_DENIED: 'MEGAPHONE_ERR_LINK_DENIED',
  /** A configuration value is missing or out of range. */
  CONFIG_INVALID: 'MEGAPHONE_ERR_CONFIG_INVALID',
  /** A request body's Content-Encoding is none Megaphone decodes (HTTP 415). */
  HTTP_UNSUPPORTED_ENCODING: 'MEGAPHONE_ERR_HTTP_UNSUPPORTED_ENCODING',
  /** A compressed request body is larger than the limit once decompressed (HTTP 413). */
  HTTP_DECOMPRESSED_TOO_LARGE: 'MEGAPHONE_ERR_HTTP_DECOMPRESSED_TOO_LARGE',
  /** A request body is not valid data of its Content-Encoding (HTTP 400). */
  HTTP_CORRUPT_ENCODING: 'MEGAPHONE_ERR_HTTP_CORRUPT_ENCODING'
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class MegaphoneError extends Error {
  readonly code: ErrorCode | BoshErrorCode

  constructor (code: ErrorCode | BoshErrorCode, message: string) {
    super(message)
    this.name = 'MegaphoneError'
    this.code = code
  }
}

/** A malformed frame header: what was wrong (its word in the contract) and at which byte of the link's stream. */
export class FrameError extends MegaphoneError {
  readonly reason: FrameErrorCode
  readonly offset: number

  constructor (reason: FrameErrorCode, offset: number, detail: string) {
    super(ErrorCode.LINK_MALFORMED_FRAME, `malformed frame (${reason}) at byte ${offset}: ${detail}`)
    this.name = 'FrameError'
    this.reason = reason
    this.offset = offset
  }
}

/**
 * A request refused at the HTTP level, before any BOSH parsing (XEP-0124
 * 17.1 lets HTTP errors answer such requests): its status, and a fixed
 * message, never built from the request, for the client and the logs.
 */
export class HttpError extends MegaphoneError {
  readonly statusCode: number

  constructor (code: ErrorCode, statusCode: number, message: string) {
    super(code, message)
    this.name = 'HttpError'
    this.statusCode = statusCode
  }
}

/** XEP-0124 17.2 terminal binding conditions (and XEP-0206 8.4). */
export const BoshCondition = {
  BAD_REQUEST: 'bad-request',
  HOST_GONE: 'host-gone',
  HOST_UNKNOWN: 'host-unknown',
  IMPROPER_ADDRESSING: 'improper-addressing',
  INTERNAL_SERVER_ERROR: 'internal-server-error',
  ITEM_NOT_FOUND: 'item-not-found',
  OTHER_REQUEST: 'other-request',
  POLICY_VIOLATION: 'policy-violation',
  REMOTE_CONNECTION_FAILED: 'remote-connection-failed',
  REMOTE_STREAM_ERROR: 'remote-stream-error',
  SEE_OTHER_URI: 'see-other-uri',
  SYSTEM_SHUTDOWN: 'system-shutdown',
  UNDEFINED_CONDITION: 'undefined-condition'
} as const
export type BoshCondition = (typeof BoshCondition)[keyof typeof BoshCondition]

const C = BoshCondition

/**
 * Every cause that ends a BOSH session or refuses a request: its stable code,
 * the XEP-0124 17.2 terminal condition the client receives, and a short fixed
 * phrase for logs. The one place a cause is mapped to its condition.
 */
export const BOSH_ERRORS = {
  // A request that is not a BOSH request (XEP-0124 6, 14.1; 17.2 bad-request).
  NOT_UTF8: { condition: C.BAD_REQUEST, reason: 'body is not UTF-8' },
  MALFORMED_XML: { condition: C.BAD_REQUEST, reason: 'malformed XML' },
  DOCTYPE: { condition: C.BAD_REQUEST, reason: 'DOCTYPE in request body' },
  NOT_BODY: { condition: C.BAD_REQUEST, reason: 'root is not <body xmlns=\'http://jabber.org/protocol/httpbind\'/>' },
  BAD_RID: { condition: C.BAD_REQUEST, reason: 'rid missing or not an integer from 1 to 2^53-1' },
  BAD_NUMBER: { condition: C.BAD_REQUEST, reason: 'attribute is not an unsigned integer' },
  // Session creation (XEP-0124 7.1, XEP-0206 3).
  NO_TO: { condition: C.BAD_REQUEST, reason: 'session creation request without to' },
  HOST_UNKNOWN: { condition: C.HOST_UNKNOWN, reason: 'domain not served' },
  NO_WAIT: { condition: C.BAD_REQUEST, reason: 'session creation request without wait' },
  XMPP_VERSION: { condition: C.BAD_REQUEST, reason: 'unsupported xmpp:version' },
  BAD_CONTENT: { condition: C.BAD_REQUEST, reason: 'content is not a MIME type' },
  BAD_NEWKEY: { condition: C.BAD_REQUEST, reason: 'newkey is not a SHA-1 hex digest' },
  SESSION_LIMIT: { condition: C.POLICY_VIOLATION, reason: 'session limit reached' },
  // Per client address (lib/address-limits.ts). XEP-0124 17.1: a connection
  // manager SHOULD NOT answer a client of version 1.6 or later with an HTTP
  // error (so not 429 or 503): the terminal condition tells the client it is
  // Megaphone's refusal, not an intermediary's. XEP-0124 17.2
  // policy-violation: "the client has broken the session rules (polling too
  // frequently, requesting too frequently ...)". A legacy client gets 403 (17.1).
  ADDRESS_SESSION_LIMIT: { condition: C.POLICY_VIOLATION, reason: 'too many sessions open from this address' },
  ADDRESS_SESSION_RATE: { condition: C.POLICY_VIOLATION, reason: 'sessions created too fast from this address' },
  // Requests within a session (XEP-0124 9-15, XEP-0206 5).
  UNKNOWN_SID: { condition: C.ITEM_NOT_FOUND, reason: 'unknown or ended session' },
  RID_BEYOND_WINDOW: { condition: C.ITEM_NOT_FOUND, reason: 'rid beyond the window' },
  RID_NOT_BUFFERED: { condition: C.ITEM_NOT_FOUND, reason: 'rid already answered and no longer buffered' },
  RID_NEVER_CAME: { condition: C.ITEM_NOT_FOUND, reason: 'a missing rid never came' },
  WRONG_KEY: { condition: C.ITEM_NOT_FOUND, reason: 'wrong key' },
  TOO_MANY_REQUESTS: { condition: C.POLICY_VIOLATION, reason: 'more simultaneous requests than requests' },
  POLLING_TOO_OFTEN: { condition: C.POLICY_VIOLATION, reason: 'polling too often' },
  PAUSE_TOO_LONG: { condition: C.POLICY_VIOLATION, reason: 'pause over maxpause' },
  RESTART_WITH_PAYLOAD: { condition: C.BAD_REQUEST, reason: 'restart request with payload' },
  // Ends that are not the client's request.
  INACTIVE: { condition: C.ITEM_NOT_FOUND, reason: 'no request within inactivity' },
  OUTPUT_OVERFLOW: { condition: C.POLICY_VIOLATION, reason: 'client not collecting its output' },
  ELEMENT_TOO_LARGE: { condition: C.POLICY_VIOLATION, reason: 'element larger than a link frame' },
  LINK_FAILED: { condition: C.REMOTE_CONNECTION_FAILED, reason: 'link to ejabberd failed' },
  // A working session whose link (or ejabberd node) was lost. Not
  // remote-connection-failed, which Converse.js takes as final and logs the
  // user out for good: system-shutdown, after which clients that reconnect
  // (Converse.js) do, to another link or the same one once it is back.
  LINK_LOST: { condition: C.SYSTEM_SHUTDOWN, reason: 'link to ejabberd lost' },
  STREAM_TIMEOUT: { condition: C.REMOTE_CONNECTION_FAILED, reason: 'ejabberd did not open the stream in time' },
  STREAM_ERROR: { condition: C.REMOTE_STREAM_ERROR, reason: 'ejabberd ended the stream with an error' },
  SHUTDOWN: { condition: C.SYSTEM_SHUTDOWN, reason: 'shutting down' },
  SEE_OTHER_URI: { condition: C.SEE_OTHER_URI, reason: 'shutting down, sent to another connection manager' }
} as const satisfies Record<string, { condition: BoshCondition, reason: string }>

/** A cause of BOSH_ERRORS; its error code is `MEGAPHONE_ERR_BOSH_<cause>`. */
export type BoshCause = keyof typeof BOSH_ERRORS
export type BoshErrorCode = `MEGAPHONE_ERR_BOSH_${BoshCause}`

/**
 * A request or session that ends in a terminal binding condition: `cause`
 * (BOSH_ERRORS) gives the condition, the code and the log phrase; `message`
 * may add a detail that never quotes client input.
 */
export class BoshError extends MegaphoneError {
  readonly kind: BoshCause
  readonly condition: BoshCondition
  readonly reason: string

  constructor (cause: BoshCause, detail?: string) {
    const { condition, reason } = BOSH_ERRORS[cause]
    super(boshErrorCode(cause), detail === undefined ? `${condition}: ${reason}` : `${condition}: ${reason}: ${detail}`)
    this.name = 'BoshError'
    this.kind = cause
    this.condition = condition
    this.reason = reason
  }
}

/** The stable code of a cause, as logs name it. */
export function boshErrorCode (cause: BoshCause): BoshErrorCode {
  return `MEGAPHONE_ERR_BOSH_${cause}`
}
