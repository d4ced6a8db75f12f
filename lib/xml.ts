// The one place that imports the XML library (ltx), so it can be swapped.
import { Element, escapeXML, parse as ltxParse } from 'ltx'

export { Element, escapeXML }

/** Parses one complete element; throws on malformed XML. */
export function parseElement (text: string): Element {
  const el = ltxParse(text)
  if (!(el instanceof Element)) throw new Error('not an element')
  return el
}
