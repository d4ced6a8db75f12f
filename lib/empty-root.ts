// The commonest BOSH request is a bare <body rid='…' sid='…'/>: a long poll
// that carries nothing. Reading it with a full XML parser costs more than the
// rest of the request's handling, so a document that is one empty element with
// plain attributes is read here by hand. Anything this reader is not sure of
// (entities, non-ASCII, whitespace inside values, children, an XML
// declaration, prefixes it cannot resolve) makes it answer null, and the
// caller parses the text fully; the two must agree on every document this one
// accepts (test/unit/empty-root.test.ts checks that on generated documents).
import type { SplitDocument } from './xml.js'

/** XML Namespaces 1.0 3: these two URIs may not be bound to another prefix, nor as the default. */
const XML_NS = 'http://www.w3.org/XML/1998/namespace'
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/'

// A conservative subset of XML 1.0's productions, ASCII only:
// S, Name (an NCName, optionally prefixed), Eq and AttValue without
// references, tabs or newlines (attribute-value normalization would change those).
const OPEN = /^[ \t\r\n]*<([A-Za-z_][\w.-]*)/y
const ATTRIBUTE = /[ \t\r\n]+([A-Za-z_][\w.-]*)(?::([A-Za-z_][\w.-]*))?[ \t\r\n]*=[ \t\r\n]*(?:'([\x20-\x25\x28-\x3B\x3D-\x7E"]*)'|"([\x20-\x21\x23-\x25\x27-\x3B\x3D-\x7E]*)")/y
const END = /[ \t\r\n]*(?:\/>|>(?:<\/([A-Za-z_][\w.-]*)[ \t\r\n]*>))[ \t\r\n]*$/y

/**
 * The document when it is exactly one element, unprefixed, with attributes
 * only (self-closing, or an end tag right after the start tag); else null.
 * `attrs` are by qualified name, as splitRoot gives them.
 */
export function emptyRoot (text: string): SplitDocument | null {
  OPEN.lastIndex = 0
  const open = OPEN.exec(text)
  if (open === null) return null
  const name = open[1] as string
  let at = OPEN.lastIndex
  const attrs: Record<string, string> = {}
  /** Prefixes this element declares; `xml` is bound by definition. */
  const prefixes: Record<string, string> = { xml: XML_NS }
  let prefixed: Array<[string, string]> | null = null
  let uri = ''
  for (;;) {
    ATTRIBUTE.lastIndex = at
    const m = ATTRIBUTE.exec(text)
    if (m === null) break
    at = ATTRIBUTE.lastIndex
    const [, first, second, single, double] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined]
    const value = single ?? double ?? ''
    // Left to the parser: a namespace name with spaces around it (the parser trims it).
    if (first === 'xmlns' && value.trim() !== value) return null
    const qname = second === undefined ? first : `${first}:${second}`
    // XML 1.0 3.1: an attribute name appears once per start tag.
    if (qname in attrs) return null
    attrs[qname] = value
    if (second === undefined) {
      if (first === 'xmlns') {
        if (value === XML_NS || value === XMLNS_NS) return null
        uri = value
      }
    } else if (first === 'xmlns') {
      // Namespaces 3: no undeclaring, and xml/xmlns keep their own bindings.
      if (value === '' || second === 'xml' || second === 'xmlns' || value === XML_NS || value === XMLNS_NS) return null
      prefixes[second] = value
    } else {
      (prefixed ??= []).push([first, second])
    }
  }
  END.lastIndex = at
  const end = END.exec(text)
  if (end === null || (end[1] !== undefined && end[1] !== name)) return null
  if (prefixed !== null) {
    // Namespaces 5.3: every prefix bound, and no two attributes with the same expanded name.
    const seen = new Set<string>()
    for (const [prefix, local] of prefixed) {
      const ns = prefixes[prefix]
      if (ns === undefined) return null
      const expanded = `${ns} ${local}`
      if (seen.has(expanded)) return null
      seen.add(expanded)
    }
  }
  return { name, uri, attrs, children: [] }
}
