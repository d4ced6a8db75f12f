// The one place that imports XML libraries and the one place that escapes
// XML: ltx builds element trees (tests, ejabberd's stream header) and its
// escapeXML (& < > " ') serves every attribute and text Megaphone writes;
// saxes checks untrusted request bodies strictly, and splitRoot re-serializes
// them with escapes of its own that also keep tabs and newlines in attributes.
// An empty root with plain attributes, the commonest request, is read without
// saxes by empty-root.ts, which declines anything it is not sure of.
import { Element, escapeXML, unescapeXML, parse as ltxParse } from 'ltx'
import { SaxesParser, type SaxesTagNS } from 'saxes'
import { emptyRoot } from './empty-root.js'

export { Element, escapeXML, unescapeXML }

/** Parses one complete element; throws on malformed XML. */
export function parseElement (text: string): Element {
  const el = ltxParse(text)
  if (!(el instanceof Element)) throw new Error('not an element')
  return el
}

/** Nesting allowed below the root: far beyond any stanza, far below what hurts a parser downstream. */
export const MAX_DEPTH = 100

/** A document's root, its attributes by qualified name, and each child element re-serialized on its own. */
export interface SplitDocument {
  name: string
  uri: string
  attrs: Record<string, string>
  children: string[]
}

/** Why a document was refused; the message never quotes the document. */
export class XmlRefusal extends Error {
  readonly kind: 'malformed' | 'doctype'
  constructor (kind: 'malformed' | 'doctype', message: string) {
    super(message)
    this.kind = kind
  }
}

/**
 * Parses a whole document strictly (XML 1.0 + namespaces): any well-formedness
 * error, a DOCTYPE (so no entity declaration is ever read, let alone
 * expanded), content after the root, or nesting deeper than MAX_DEPTH throws
 * an XmlRefusal. Text directly
 * under the root, comments and processing instructions are dropped. Each child
 * of the root comes back as a standalone string that carries the declarations
 * of the root's namespace prefixes it uses; a child without `xmlns` keeps none,
 * so the receiver applies its own default (jabber:client for XMPP).
 */
export function splitRoot (text: string): SplitDocument {
  // Most BOSH requests are an empty <body/>: read without the parser when it is sure.
  return emptyRoot(text) ?? parseRoot(text)
}

/** splitRoot with the parser always, whatever the document (exported for the test that compares the two readers). */
export function parseRoot (text: string): SplitDocument {
  const parser = new SaxesParser({ xmlns: true, position: true })
  let root: SaxesTagNS | null = null
  const children: string[] = []
  let depth = 0
  let out = ''
  /** Prefixes declared in the current child's subtree, innermost last. */
  let declared: Array<Record<string, string>> = []
  let usedRootPrefixes = new Set<string>()
  let headEnd = 0

  const fail = (kind: 'malformed' | 'doctype', what: string): never => {
    throw new XmlRefusal(kind, `${what} at line ${parser.line}, column ${parser.column}`)
  }
  const isDeclared = (prefix: string): boolean => declared.some((d) => prefix in d)

  parser.on('error', (err) => fail('malformed', err.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '').slice(0, 120)))
  parser.on('doctype', () => fail('doctype', 'DOCTYPE refused'))
  parser.on('opentag', (tag) => {
    if (root === null) {
      root = tag
      return
    }
    depth++
    if (depth > MAX_DEPTH) fail('malformed', `elements nested deeper than ${MAX_DEPTH}`)
    if (depth === 1) {
      out = ''
      declared = []
      usedRootPrefixes = new Set()
    }
    const ns = tag.ns ?? {}
    declared.push(ns)
    if (tag.prefix !== '' && !isDeclared(tag.prefix)) usedRootPrefixes.add(tag.prefix)
    out += `<${tag.name}`
    for (const attr of Object.values(tag.attributes)) {
      if (attr.prefix !== '' && attr.prefix !== 'xmlns' && attr.prefix !== 'xml' && !isDeclared(attr.prefix)) {
        usedRootPrefixes.add(attr.prefix)
      }
      out += ` ${attr.name}="${escapeAttr(attr.value)}"`
    }
    if (depth === 1) headEnd = out.length
    out += tag.isSelfClosing ? '/>' : '>'
    if (tag.isSelfClosing) close()
  })
  parser.on('closetag', (tag) => {
    if (depth === 0) return
    if (!tag.isSelfClosing) {
      out += `</${tag.name}>`
      close()
    }
  })
  const onText = (text: string): void => { if (depth > 0) out += escapeText(text) }
  parser.on('text', onText)
  parser.on('cdata', onText)

  function close (): void {
    declared.pop()
    depth--
    if (depth > 0) return
    // The root's prefix declarations that the child relies on go onto the child.
    const rootNs = (root as SaxesTagNS | null)?.ns ?? {}
    let decls = ''
    for (const prefix of usedRootPrefixes) {
      const uri = rootNs[prefix]
      if (uri !== undefined) decls += ` xmlns:${prefix}="${escapeAttr(uri)}"`
    }
    children.push(decls === '' ? out : out.slice(0, headEnd) + decls + out.slice(headEnd))
    out = ''
  }

  parser.write(text).close()
  if (root === null) fail('malformed', 'no root element')
  const r = root as unknown as SaxesTagNS
  const attrs: Record<string, string> = {}
  for (const attr of Object.values(r.attributes)) attrs[attr.name] = attr.value
  return { name: r.local, uri: r.uri, attrs, children }
}

function escapeText (s: string): string {
  // XML 2.11: a literal CR is read as LF, so one the client sent as `&#13;` goes on as a reference.
  return s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] as string)
}

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' }

function escapeAttr (s: string): string {
  return s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c] as string)
}

const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;'
}

/** One element's qualified parts, as checkElement reads its root. */
export interface RootElement {
  /** Local name. */
  name: string
  /** Namespace URI; '' when the element has none (a stanza without xmlns). */
  uri: string
  attrs: Record<string, string>
}

/**
 * Checks that `text` is exactly one well-formed element (XML 1.0 +
 * namespaces, as splitRoot: no DOCTYPE, nothing but white space around it,
 * nesting up to MAX_DEPTH) and returns its root, without building anything
 * of its content. Throws an XmlRefusal otherwise.
 */
export function checkElement (text: string): RootElement {
  const parser = new SaxesParser({ xmlns: true, position: true })
  let root: SaxesTagNS | null = null
  let depth = 0
  const fail = (kind: 'malformed' | 'doctype', what: string): never => {
    throw new XmlRefusal(kind, `${what} at line ${parser.line}, column ${parser.column}`)
  }
  parser.on('error', (err) => fail('malformed', err.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '').slice(0, 120)))
  parser.on('doctype', () => fail('doctype', 'DOCTYPE refused'))
  parser.on('opentag', (tag) => {
    if (root === null) root = tag
    else if (++depth > MAX_DEPTH) fail('malformed', `elements nested deeper than ${MAX_DEPTH}`)
  })
  parser.on('closetag', (tag) => { if (tag !== root) depth-- })
  parser.write(text).close()
  if (root === null) fail('malformed', 'no root element')
  const r = root as unknown as SaxesTagNS
  const attrs: Record<string, string> = {}
  for (const attr of Object.values(r.attributes)) attrs[attr.name] = attr.value
  return { name: r.local, uri: r.uri, attrs }
}
