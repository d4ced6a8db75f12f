// RFC 7395 framing of session content, the front end's side
// (docs/link-protocol.md "Session content"): the stream header and end this
// side writes, and the kind of each element the listener writes. The Erlang
// side's owner of the same rules is ejabberd/src/megaphone_framing.erl; the
// element names come from the contract (constants.ts FRAMING_ELEMENTS).
import { escapeXML, parseElement } from '../xml.js'
import { FRAMING_ELEMENTS, NS_FRAMING } from './constants.js'

const [OPEN, CLOSE, FEATURES, STREAM_ERROR] = FRAMING_ELEMENTS

/** What one element from the listener stands for. */
export type FrameKind = 'open' | 'close' | 'features' | 'stream-error' | 'element'

/**
 * RFC 7395 3.3.2: the stream header as an element; sent again after SASL
 * success to restart the stream (XEP-0206 5).
 */
export function openElement (to: string, lang: string): string {
  const xmlLang = lang === '' ? '' : ` xml:lang='${escapeXML(lang)}'`
  return `<${OPEN} xmlns='${NS_FRAMING}' to='${escapeXML(to)}' version='1.0'${xmlLang}/>`
}

/** RFC 7395 3.6: the end of the stream. */
export const CLOSE_ELEMENT = `<${CLOSE} xmlns='${NS_FRAMING}'/>`

/**
 * The kind of one element from the listener, by its qualified name: the
 * listener writes exactly one complete element per frame, the stream events
 * under the names of FRAMING_ELEMENTS, so nothing else needs to be parsed.
 */
export function frameKind (xml: string): FrameKind {
  switch (qualifiedName(xml)) {
    case OPEN: return 'open'
    case CLOSE: return 'close'
    case FEATURES: return 'features'
    case STREAM_ERROR: return 'stream-error'
    default: return 'element'
  }
}

/** The stream id ejabberd gave in its header (RFC 6120 4.7.3), or '' when it has none. */
export function streamId (openXml: string): string {
  return parseElement(openXml).attrs.id ?? ''
}

/** `<name …`: from after the `<` to the first white space, `/` or `>`. */
function qualifiedName (xml: string): string {
  let end = 1
  while (end < xml.length) {
    const c = xml.charCodeAt(end)
    // space, tab, LF, CR, '/', '>'
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x2f || c === 0x3e) break
    end++
  }
  return xml.slice(1, end)
}
