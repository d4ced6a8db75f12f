// Response bodies (XEP-0124 7.2, 8, 17.2). Pure string building: payload
// elements from ejabberd are placed inside unparsed (docs/link-protocol.md,
// "Session content": each is one complete, namespaced element).
import type { BoshCondition } from '../errors.js'
import { escapeXML } from '../xml.js'
import { NS_HTTPBIND } from './constants.js'

export type BodyAttrs = ReadonlyArray<readonly [string, string | number]>

const OPEN = `<body xmlns='${NS_HTTPBIND}'`

/** `<body xmlns='…httpbind' a='v' …>payload</body>`, or self-closing without payload. */
export function formatBody (attrs: BodyAttrs, payload = ''): string {
  let head = OPEN
  for (const [name, value] of attrs) head += ` ${name}='${escapeXML(String(value))}'`
  return payload === '' ? `${head}/>` : `${head}>${payload}</body>`
}

/** The empty body, shared: most responses to held requests are this. */
export const EMPTY_BODY = formatBody([])

/** XEP-0124 17.2: `<body type='terminate' condition='…'/>`; no condition for a normal end. */
export function terminateBody (condition: BoshCondition | null, payload = '', extra: BodyAttrs = []): string {
  if (payload === '' && extra.length === 0) return bareTerminate(condition)
  const attrs: Array<readonly [string, string | number]> = [['type', 'terminate']]
  if (condition !== null) attrs.push(['condition', condition])
  return formatBody([...attrs, ...extra], payload)
}

/**
 * XEP-0124 17.1: a legacy client (its creation request had no `ver`) is
 * answered with an HTTP error code, and an empty body, in place of these
 * three terminal conditions; null for every other response, which goes out
 * as it is with 200.
 */
export function legacyStatus (body: string): 400 | 403 | 404 | null {
  const condition = TERMINATE_CONDITION.exec(body)?.[1]
  return condition === undefined ? null : LEGACY_STATUS[condition] ?? null
}

const TERMINATE_CONDITION = /^<body [^>]*\btype='terminate'[^>]*\bcondition='([a-z-]+)'/
const LEGACY_STATUS: Readonly<Record<string, 400 | 403 | 404>> = { 'bad-request': 400, 'policy-violation': 403, 'item-not-found': 404 }

/** The terminate bodies with nothing but a condition, built once each: refusals are answered with them, at any rate. */
const bareTerminates = new Map<BoshCondition | null, string>()
function bareTerminate (condition: BoshCondition | null): string {
  let body = bareTerminates.get(condition)
  if (body === undefined) {
    body = formatBody(condition === null ? [['type', 'terminate']] : [['type', 'terminate'], ['condition', condition]])
    bareTerminates.set(condition, body)
  }
  return body
}
