// Every error Megaphone raises, each with a stable code. Codes never change
// meaning once released; logs and tests match on them, never on messages.

/** Why a frame header was rejected; the wire word sent in `bye malformed-frame <word>`. */
export const FrameErrorReason = {
  BAD_LENGTH: 'bad-length',
  BAD_ID: 'bad-id',
  BAD_SEPARATOR: 'bad-separator',
  LENGTH_TOO_SMALL: 'length-too-small',
  FRAME_TOO_LARGE: 'frame-too-large'
} as const
export type FrameErrorReason = (typeof FrameErrorReason)[keyof typeof FrameErrorReason]

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
  /** A BOSH request broke XEP-0124/0206; carries the terminal binding condition. */
  BOSH_TERMINAL: 'MEGAPHONE_ERR_BOSH_TERMINAL',
  /** A configuration value is missing or out of range. */
  CONFIG_INVALID: 'MEGAPHONE_ERR_CONFIG_INVALID'
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class MegaphoneError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string) {
    super(message)
    this.name = 'MegaphoneError'
    this.code = code
  }
}

/** A malformed frame header: what was wrong and at which byte of the link's stream. */
export class FrameError extends MegaphoneError {
  readonly reason: FrameErrorReason
  readonly offset: number

  constructor (reason: FrameErrorReason, offset: number, detail: string) {
    super(ErrorCode.LINK_MALFORMED_FRAME, `malformed frame (${reason}) at byte ${offset}: ${detail}`)
    this.name = 'FrameError'
    this.reason = reason
    this.offset = offset
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

/**
 * A request that ends in a terminal binding condition. `reason` is a short
 * fixed phrase for logs (never built from client input), `message` may say more.
 */
export class BoshError extends MegaphoneError {
  readonly condition: BoshCondition
  readonly reason: string

  constructor (condition: BoshCondition, reason: string, detail?: string) {
    super(ErrorCode.BOSH_TERMINAL, detail === undefined ? `${condition}: ${reason}` : `${condition}: ${reason}: ${detail}`)
    this.name = 'BoshError'
    this.condition = condition
    this.reason = reason
  }
}
