// Properties of the BOSH body parser (lib/bosh/body.ts over lib/xml.ts),
// XEP-0124 6 and 7.1, 17.2: whatever the bytes, a body or a coded error.
import fc from 'fast-check'
import { parseRequestBody, type RequestBody } from '../../lib/bosh/body.js'
import { NS_HTTPBIND } from '../../lib/bosh/constants.js'
import { BoshCondition, BoshError } from '../../lib/errors.js'
import { checkElement, parseElement, type Element } from '../../lib/xml.js'
import { bucket, type Coverage } from './coverage.js'
import type { FuzzProperty } from './property.js'
import { bodyText, nearlyValidBytes, normalize, validBody, type XmlNode } from './xml-arbitraries.js'

/** What routes/http-bind.ts does with the bytes of a POST: UTF-8 or NOT_UTF8, then the parser. */
const utf8 = new TextDecoder('utf-8', { fatal: true })
function readBody (bytes: Buffer): RequestBody {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new BoshError('NOT_UTF8')
  }
  return parseRequestBody(text)
}

const CONDITIONS = new Set<string>(Object.values(BoshCondition))

/** Runs the parser; anything thrown but a BoshError with a known condition escapes and fails the property. */
function outcome (bytes: Buffer, cov: Coverage): RequestBody | null {
  try {
    return readBody(bytes)
  } catch (err) {
    if (!(err instanceof BoshError) || !CONDITIONS.has(err.condition)) throw err
    cov.count('outcome', `${err.kind} (${err.condition})`)
    return null
  }
}

/** Each payload element is one well-formed element on its own, and re-reading the payload in a fresh body gives it back unchanged. */
function payloadStands (body: RequestBody): boolean {
  for (const el of body.payload) checkElement(el)
  const again = parseRequestBody(`<body xmlns='${NS_HTTPBIND}' rid='1'>${body.payload.join('')}</body>`)
  return again.payload.length === body.payload.length && again.payload.every((p, i) => p === body.payload[i])
}

const anyBytes: FuzzProperty = {
  name: 'BOSH bodies: any bytes give a body whose payload elements stand alone, or a BoshError with its XEP-0124 condition',
  build: (cov: Coverage) => fc.property(fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')) },
    { weight: 6, arbitrary: nearlyValidBytes }
  ), (bytes) => {
    cov.max('body bytes', bytes.length)
    const body = outcome(bytes, cov)
    if (body === null) return true
    cov.count('outcome', 'parsed')
    cov.count('payload elements', bucket(body.payload.length))
    return payloadStands(body)
  })
}

function tree (el: Element): XmlNode {
  return {
    name: el.name,
    attrs: Object.entries(el.attrs).map(([k, v]) => [k, String(v)]),
    children: el.children.map((c) => typeof c === 'string' ? c : tree(c as Element))
  }
}

const roundTrip: FuzzProperty = {
  name: 'BOSH bodies: a valid body gives back its rid, attributes and payload elements, whatever the escaping',
  build: (cov: Coverage) => fc.property(validBody, (b) => {
    cov.count('text style', b.style)
    cov.count('payload elements', bucket(b.payload.length))
    cov.count('attributes', bucket(b.attrs.length))
    const body = parseRequestBody(bodyText(b))
    if (body.rid !== b.rid) return false
    const want: Record<string, string> = { xmlns: NS_HTTPBIND, rid: String(b.rid), ...Object.fromEntries(b.attrs) }
    if (b.attrs.some(([k]) => k.startsWith('xmpp:'))) want['xmlns:xmpp'] = 'urn:xmpp:xbosh'
    if (JSON.stringify(Object.entries(body.attrs).sort()) !== JSON.stringify(Object.entries(want).sort())) return false
    if (body.payload.length !== b.payload.length) return false
    return body.payload.every((p, i) => JSON.stringify(normalize(tree(parseElement(p)))) === JSON.stringify(normalize(b.payload[i] as XmlNode)))
  })
}

export const BODY_PROPERTIES: FuzzProperty[] = [anyBytes, roundTrip]
