// The link codec and control lines under generated input (test/fuzz/link-properties.ts):
// encode/decode round trips, any split, any bytes (docs/link-protocol.md "Frames", "Control channel").
import t from 'tap'
import { LINK_PROPERTIES } from './link-properties.js'
import { runProperties } from './run.js'

runProperties(t, LINK_PROPERTIES, 5_000)
