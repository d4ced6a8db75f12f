// The WebSocket message classifier under generated input
// (test/fuzz/websocket-properties.ts): a classification or a coded refusal (RFC 7395 3.2, 3.3.3).
import t from 'tap'
import { WEBSOCKET_PROPERTIES } from './websocket-properties.js'
import { runProperties } from './run.js'

runProperties(t, WEBSOCKET_PROPERTIES, 5_000)
