// The TypeScript and Erlang sides of the link must agree on every constant of
// docs/link-protocol.md; this reads the Erlang header and compares.
import t from 'tap'
import { readFileSync } from 'node:fs'
import * as ts from '../../lib/link/constants.js'

const hrl = readFileSync(new URL('../../ejabberd/include/megaphone_link.hrl', import.meta.url), 'utf8')
const defines = new Map<string, string>()
for (const m of hrl.matchAll(/^-define\((\w+),\s*(.+)\)\.\s*$/gm)) defines.set(m[1] as string, (m[2] as string).trim())

const integer = (name: string): number => {
  const value = defines.get(name)
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`${name} is not a plain integer define in megaphone_link.hrl: ${value}`)
  return Number(value)
}

t.test('both sides agree on the frame header (docs/link-protocol.md Frames)', async (t) => {
  t.equal(integer('MEGAPHONE_PROTOCOL_VERSION'), ts.PROTOCOL_VERSION, 'protocol version')
  t.equal(integer('MEGAPHONE_LENGTH_DIGITS'), ts.LENGTH_DIGITS, 'length digits')
  t.equal(integer('MEGAPHONE_ID_DIGITS'), ts.ID_DIGITS, 'connection ID digits')
  t.equal(integer('MEGAPHONE_HEADER_BYTES'), ts.HEADER_BYTES, 'header bytes')
  t.equal(defines.get('MEGAPHONE_SEPARATOR'), `$${ts.SEPARATOR}`, 'separator')
  t.equal(integer('MEGAPHONE_CONTROL_ID'), ts.CONTROL_ID, 'control connection ID')
})

t.test('both sides agree on limits and timers', async (t) => {
  t.equal(integer('MEGAPHONE_DEFAULT_MAX_FRAME_BYTES'), ts.DEFAULT_MAX_FRAME_BYTES, 'default maximum frame')
  t.equal(integer('MEGAPHONE_MAX_CONNECTION_ID'), ts.MAX_CONNECTION_ID, 'largest connection ID')
  t.equal(integer('MEGAPHONE_DEFAULT_HEARTBEAT_INTERVAL_MS'), ts.DEFAULT_HEARTBEAT_INTERVAL_MS, 'heartbeat interval')
  t.equal(integer('MEGAPHONE_DEFAULT_HEARTBEAT_TIMEOUT_MS'), ts.DEFAULT_HEARTBEAT_TIMEOUT_MS, 'heartbeat timeout')
})

t.test('both sides know the same control words', async (t) => {
  const words = [...(defines.get('MEGAPHONE_CONTROL_WORDS') ?? '').matchAll(/<<"([a-z]+)">>/g)].map((m) => m[1])
  t.same(words, [...ts.CONTROL_WORDS])
})
