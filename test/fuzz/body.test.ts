// The BOSH body parser under generated input (test/fuzz/body-properties.ts):
// any bytes give a body or a coded bad-request (XEP-0124 6, 17.2); valid bodies round-trip.
import t from 'tap'
import { BODY_PROPERTIES } from './body-properties.js'
import { runProperties } from './run.js'

runProperties(t, BODY_PROPERTIES, 3_000)
