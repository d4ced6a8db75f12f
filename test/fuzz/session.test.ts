// The BOSH session state machine under random command sequences
// (test/fuzz/session-properties.ts): every request answered exactly once,
// elements to ejabberd in rid order once each, bounded queues (XEP-0124 8, 11, 14).
import t from 'tap'
import { SESSION_PROPERTIES } from './session-properties.js'
import { runProperties } from './run.js'

runProperties(t, SESSION_PROPERTIES, 4_000)
