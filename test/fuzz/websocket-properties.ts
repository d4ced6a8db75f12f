// Properties of the WebSocket message classifier (lib/websocket/message.ts),
// RFC 7395 3.2 and 3.3.3: any message gives a classification or a coded refusal.
import fc from 'fast-check'
import { NS_FRAMING } from '../../lib/link/constants.js'
import { MessageRefusal, readMessage, serverFrameKind, type StreamCondition } from '../../lib/websocket/message.js'
import { checkElement } from '../../lib/xml.js'
import type { Coverage } from './coverage.js'
import type { FuzzProperty } from './property.js'
import { nearlyValidBytes, serialize, xmlNode } from './xml-arbitraries.js'

const CONDITIONS = new Set<StreamCondition>(['host-unknown', 'invalid-namespace', 'not-well-formed', 'policy-violation', 'restricted-xml', 'unsupported-encoding', 'remote-connection-failed', 'internal-server-error', 'system-shutdown', 'connection-timeout'])

/** RFC 7395's own elements, right and nearly right. */
const framing = fc.tuple(
  fc.constantFrom('open', 'close', 'stream:stream', 'Open'),
  fc.constantFrom(NS_FRAMING, 'jabber:client', ''),
  fc.constantFrom('', " to='localhost'", " to='LocalHost' version='1.0'", " to=''", ' to="a&amp;b"'),
  fc.constantFrom('/>', '/>', '></open>', '></close>', '>', '')
).map(([name, ns, attrs, end]) => Buffer.from(`<${name}${ns === '' ? '' : ` xmlns='${ns}'`}${attrs}${end}`, 'utf8'))

const message = fc.oneof(
  { weight: 2, arbitrary: framing },
  { weight: 2, arbitrary: xmlNode.map((n) => Buffer.from(serialize(n), 'utf8')) },
  { weight: 4, arbitrary: nearlyValidBytes },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) }
)

const classify: FuzzProperty = {
  name: 'WebSocket messages: any bytes, text or binary, give a classification of one well-formed element or a refusal with its RFC 6120 condition',
  build: (cov: Coverage) => fc.property(message, fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), fc.oneof({ weight: 4, arbitrary: fc.constant(65_536) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) }), (data, isBinary, maxBytes) => {
    let read
    try {
      read = readMessage(data, isBinary, maxBytes)
    } catch (err) {
      if (!(err instanceof MessageRefusal) || !CONDITIONS.has(err.condition)) throw err
      cov.count('outcome', `refused: ${err.condition}`)
      return true
    }
    cov.count('outcome', read.message.kind)
    if (isBinary || data.length > maxBytes) return false
    const root = checkElement(read.text)
    const isFraming = root.uri === NS_FRAMING && (root.name === 'open' || root.name === 'close')
    return read.message.kind === (isFraming ? root.name : 'element')
  })
}

const serverKind: FuzzProperty = {
  name: 'WebSocket: any frame from ejabberd is classified as open, close or other without an exception',
  build: (cov: Coverage) => fc.property(fc.oneof(message, framing), (content) => {
    const kind = serverFrameKind(content)
    cov.count('kind', kind)
    const head = content.toString('latin1', 0, 7)
    return kind === (head.startsWith('<open ') ? 'open' : head === '<close ' || head === '<close/' ? 'close' : 'other')
  })
}

export const WEBSOCKET_PROPERTIES: FuzzProperty[] = [classify, serverKind]
