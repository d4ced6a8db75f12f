// Control messages on connection ID 0 (docs/link-protocol.md "Control channel"):
// one ASCII line, words separated by single spaces. Pure: no sockets.
import { isIP } from 'node:net'
import { ErrorCode, MegaphoneError } from '../errors.js'
import { MAX_CONNECTION_ID } from './constants.js'

export type ControlMessage =
  | { word: 'challenge', version: number, nonce: string }
  | { word: 'auth', version: number, hmac: string, maxFrameBytes: number }
  | { word: 'ready', version: number, maxFrameBytes: number, heartbeatTimeoutMs: number }
  | { word: 'denied', reason: string }
  | { word: 'open', id: number, ip: string, port: number }
  | { word: 'close', id: number, reason: string }
  | { word: 'ping', token: string }
  | { word: 'pong', token: string }
  | { word: 'bye', reason: string }

const TOKEN = /^[\x21-\x7e]{1,64}$/
const HEX32 = /^[0-9a-f]{32}$/
const HEX64 = /^[0-9a-f]{64}$/
const DECIMAL = /^[0-9]{1,20}$/

export function formatControl (msg: ControlMessage): string {
  switch (msg.word) {
    case 'challenge': return `challenge ${msg.version} ${msg.nonce}`
    case 'auth': return `auth ${msg.version} ${msg.hmac} ${msg.maxFrameBytes}`
    case 'ready': return `ready ${msg.version} ${msg.maxFrameBytes} ${msg.heartbeatTimeoutMs}`
    case 'denied': return `denied ${msg.reason}`
    case 'open': return `open ${msg.id} ${msg.ip} ${msg.port}`
    case 'close': return `close ${msg.id} ${msg.reason}`
    case 'ping': return `ping ${msg.token}`
    case 'pong': return `pong ${msg.token}`
    case 'bye': return `bye ${msg.reason}`
  }
}

/** Parses one control message; throws LINK_MALFORMED_CONTROL naming what was wrong. */
export function parseControl (content: Buffer | string): ControlMessage {
  const line = typeof content === 'string' ? content : content.toString('latin1')
  const words = line.split(' ')
  const word = words[0]
  const arg = (i: number, pattern: RegExp, what: string): string => {
    const value = words[i]
    if (value === undefined || !pattern.test(value)) malformed(`${word} needs ${what} as word ${i + 1}`)
    return value
  }
  const arity = (n: number, rest = false): void => {
    if (rest ? words.length < n : words.length !== n) malformed(`${word} takes ${n - 1} argument(s), got ${words.length - 1}`)
  }
  switch (word) {
    case 'challenge':
      arity(3)
      return { word, version: decimal(arg(1, DECIMAL, 'a version')), nonce: arg(2, HEX32, '32 hex digits') }
    case 'auth':
      arity(4)
      return {
        word,
        version: decimal(arg(1, DECIMAL, 'a version')),
        hmac: arg(2, HEX64, '64 hex digits'),
        maxFrameBytes: decimal(arg(3, DECIMAL, 'a byte count'))
      }
    case 'ready':
      arity(4)
      return {
        word,
        version: decimal(arg(1, DECIMAL, 'a version')),
        maxFrameBytes: decimal(arg(2, DECIMAL, 'a byte count')),
        heartbeatTimeoutMs: decimal(arg(3, DECIMAL, 'milliseconds'))
      }
    case 'open': {
      arity(4)
      const ip = arg(2, TOKEN, 'an IP address')
      if (isIP(ip) === 0) malformed('open needs an IPv4 or IPv6 address')
      const port = decimal(arg(3, DECIMAL, 'a port'))
      if (port > 65535) malformed('open needs a port up to 65535')
      return { word, id: connectionId(arg(1, DECIMAL, 'a connection ID')), ip, port }
    }
    case 'close':
      arity(3)
      return { word, id: connectionId(arg(1, DECIMAL, 'a connection ID')), reason: arg(2, TOKEN, 'a reason') }
    case 'ping':
    case 'pong':
      arity(2)
      return { word, token: arg(1, TOKEN, 'a token') }
    // `denied` and `bye` may carry a detail word after the reason (`bye malformed-frame bad-id`).
    case 'denied':
    case 'bye':
      arity(2, true)
      for (let i = 1; i < words.length; i++) arg(i, TOKEN, 'a reason word')
      return { word, reason: words.slice(1).join(' ') }
    default:
      return malformed(`unknown control word ${JSON.stringify((word ?? '').slice(0, 16))}`)
  }
}

function decimal (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n)) malformed(`number ${text} is out of range`)
  return n
}

function connectionId (text: string): number {
  const id = decimal(text)
  if (id === 0 || id > MAX_CONNECTION_ID) malformed(`connection ID ${text} is out of range`)
  return id
}

function malformed (detail: string): never {
  throw new MegaphoneError(ErrorCode.LINK_MALFORMED_CONTROL, `malformed control message: ${detail}`)
}
