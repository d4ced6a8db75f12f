// Generated XML for the body and WebSocket properties: element trees that
// serialize to well-formed XML (with entities, character references, CDATA,
// comments and prefixes), and damage to make them nearly so.
import fc from 'fast-check'
import { NS_HTTPBIND } from '../../lib/bosh/constants.js'

export interface XmlNode { name: string, attrs: Array<[string, string]>, children: Array<XmlNode | string> }

/** Any character XML 1.0 allows (2: Char), tab, newline and carriage return included. */
const xmlChar = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('\t', '\n', '\r', ' ', '&', '<', '>', '"', "'", ']]>') },
  { weight: 2, arbitrary: fc.integer({ min: 0xa0, max: 0xd7ff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) }
)
export const xmlText = fc.array(xmlChar, { maxLength: 12 }).map((cs) => cs.join(''))
const name = fc.stringMatching(/^[a-z_][a-z0-9._-]{0,7}$/)
const nsUri = fc.constantFrom('jabber:client', 'urn:xmpp:ping', 'http://jabber.org/protocol/chatstates', 'urn:example:ünï', 'jabber:iq:roster')

/** A tree of elements; attribute names distinct per element, `xmlns` among them sometimes. */
export const xmlNode: fc.Arbitrary<XmlNode> = fc.letrec<{ node: XmlNode }>((tie) => ({
  node: fc.record({
    name,
    attrs: fc.tuple(
      fc.uniqueArray(fc.tuple(name, xmlText), { maxLength: 3, selector: ([k]) => k }),
      fc.option(nsUri, { freq: 3 })
    ).map(([attrs, ns]) => ns === null ? attrs : [['xmlns', ns] as [string, string], ...attrs.filter(([k]) => k !== 'xmlns')]),
    children: fc.array(fc.oneof({ weight: 2, arbitrary: xmlText.filter((s) => s !== '') }, { weight: 1, arbitrary: tie('node') }), { maxLength: 3, depthIdentifier: 'xml' })
  })
})).node

/** How text is written: escaped as ltx would, with character references for everything, or in CDATA. */
export type TextStyle = 'escaped' | 'references' | 'cdata'

export function serialize (node: XmlNode, style: TextStyle = 'escaped'): string {
  let out = `<${node.name}`
  for (const [k, v] of node.attrs) out += ` ${k}='${attrEscape(v)}'`
  if (node.children.length === 0) return `${out}/>`
  out += '>'
  for (const child of node.children) out += typeof child === 'string' ? text(child, style) : serialize(child, style)
  return `${out}</${node.name}>`
}

function text (s: string, style: TextStyle): string {
  if (style === 'cdata' && !s.includes(']]>') && !s.includes('\r')) return `<![CDATA[${s}]]>`
  if (style === 'references') return [...s].map((c) => `&#x${(c.codePointAt(0) as number).toString(16)};`).join('')
  // XML 2.11: a literal CR would be read as LF, so it goes as a reference.
  return s.replace(/[&<>\r]/g, (c) => c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;')
}

function attrEscape (s: string): string {
  // XML 3.3.3: literal tabs and newlines in attributes are normalized to spaces; references keep them.
  return s.replace(/[&<'\t\n\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' })[c] as string)
}

/** A tree read back by ltx, in the same shape, adjacent text merged. */
export function normalize (node: XmlNode): XmlNode {
  const children: Array<XmlNode | string> = []
  for (const c of node.children) {
    const n = typeof c === 'string' ? c : normalize(c)
    const last = children.at(-1)
    if (typeof n === 'string' && typeof last === 'string') children[children.length - 1] = last + n
    else if (n !== '') children.push(n)
  }
  return { name: node.name, attrs: [...node.attrs].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0), children }
}

/** Valid BOSH request attributes and payload, the parser's expected reading of them, and the text. */
export const validBody = fc.record({
  rid: fc.oneof(fc.integer({ min: 1, max: 2 ** 32 }), fc.constant(2 ** 53 - 1)),
  attrs: fc.uniqueArray(fc.tuple(
    fc.constantFrom('sid', 'to', 'wait', 'hold', 'ver', 'ack', 'pause', 'type', 'xml:lang', 'xmpp:restart', 'content', 'key', 'newkey', 'x-extra'),
    xmlText
  ), { maxLength: 5, selector: ([k]) => k }),
  payload: fc.array(xmlNode, { maxLength: 4 }),
  style: fc.constantFrom<TextStyle>('escaped', 'references', 'cdata'),
  quotes: fc.boolean()
})

export function bodyText (b: { rid: number, attrs: Array<[string, string]>, payload: XmlNode[], style: TextStyle }): string {
  let head = `<body xmlns='${NS_HTTPBIND}' rid='${b.rid}'`
  for (const [k, v] of b.attrs) head += ` ${k}='${attrEscape(v)}'`
  if (b.attrs.some(([k]) => k.startsWith('xmpp:'))) head += " xmlns:xmpp='urn:xmpp:xbosh'"
  if (b.payload.length === 0) return `${head}/>`
  return `${head}>${b.payload.map((p) => serialize(p, b.style)).join('')}</body>`
}

/** Pieces that make XML nearly right, or plainly wrong. */
const hostile = fc.constantFrom(
  "<!DOCTYPE body [<!ENTITY x 'xxxxxxxxxx'><!ENTITY y '&x;&x;&x;&x;'>]>",
  '<!DOCTYPE body SYSTEM "file:///etc/passwd">',
  '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.1"?>', '<?php ?>', '<?pi data?>',
  '&x;', '&amp', '&#0;', '&#xD800;', '&#x110000;', '&#65;', '&lt;', '&#x1F600;',
  '<!-- c -->', '<!-- -- -->', '<![CDATA[', ']]>', '<![CDATA[x]]>',
  '<', '>', '</body>', '<body>', '</', '/>', "'", '"', '=', ':', 'xmlns:p', "p:a='1'", "xmlns:xml='x'",
  '\u0000', '\u0001', '\uFFFE', '\uD800', '\uFEFF', '\u0085', '\r\n',
  `<body xmlns='${NS_HTTPBIND}'`, " rid='1'", " rid='0'", " rid='-1'", " rid='9007199254740992'", " rid='1e3'", " rid=' 7'",
  " xmlns='jabber:client'", " xmlns=''", "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>"
)

/** Deep nesting, around the parser's limit of 100. */
const deep = fc.integer({ min: 90, max: 130 }).map((n) => `<body xmlns='${NS_HTTPBIND}' rid='1'>${'<a>'.repeat(n)}${'</a>'.repeat(n)}</body>`)

/** Text to damage: a valid body, a deep one, or a soup of pieces. */
const nearlyValidText = fc.oneof(
  { weight: 4, arbitrary: validBody.map(bodyText) },
  { weight: 1, arbitrary: deep },
  { weight: 2, arbitrary: fc.array(fc.oneof(hostile, xmlText, xmlNode.map((n) => serialize(n))), { maxLength: 8 }).map((ps) => ps.join('')) }
)

interface Edit { at: number, kind: 'insert' | 'delete' | 'replace', piece: string }

/** Bytes of XML that is nearly right: a text damaged by inserted pieces, deleted characters, or raw bytes that are not UTF-8. */
export const nearlyValidBytes = fc.record({
  text: nearlyValidText,
  edits: fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom<Edit['kind']>('insert', 'delete', 'replace'), piece: hostile }), { minLength: 1, maxLength: 3 }) }
  ),
  raw: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.record({ at: fc.nat(), bytes: fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80]) }) }
  )
}).map(({ text, edits, raw }) => {
  let s = text
  for (const e of edits) {
    const at = e.at % (s.length + 1)
    s = s.slice(0, at) + (e.kind === 'delete' ? '' : e.piece) + s.slice(at + (e.kind === 'insert' ? 0 : 1))
  }
  let bytes = Buffer.from(s, 'utf8')
  if (raw !== null) {
    const at = raw.at % (bytes.length + 1)
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(raw.bytes), bytes.subarray(at)])
  }
  return bytes
})
