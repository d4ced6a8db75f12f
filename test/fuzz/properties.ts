// Every fuzz property, in one list: test/fuzz/*.test.ts run them at a few
// thousand cases each in `npm test`; scripts/fuzz.ts runs them at a million.
export { LINK_PROPERTIES } from './link-properties.js'
export { BODY_PROPERTIES } from './body-properties.js'
export { SESSION_PROPERTIES } from './session-properties.js'
export { WEBSOCKET_PROPERTIES } from './websocket-properties.js'
export type { FuzzProperty } from './property.js'
export { Coverage } from './coverage.js'
import { LINK_PROPERTIES } from './link-properties.js'
import { BODY_PROPERTIES } from './body-properties.js'
import { SESSION_PROPERTIES } from './session-properties.js'
import { WEBSOCKET_PROPERTIES } from './websocket-properties.js'
import type { FuzzProperty } from './property.js'

export const ALL_PROPERTIES: FuzzProperty[] = [...LINK_PROPERTIES, ...BODY_PROPERTIES, ...SESSION_PROPERTIES, ...WEBSOCKET_PROPERTIES]
