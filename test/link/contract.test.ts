// The link has one contract in three places: docs/link-protocol.md (its
// tables), lib/link/constants.ts and ejabberd/include/megaphone_link.hrl.
// This reads all three and fails on any value or word that differs, and on
// any constant one of them has that the document's tables do not list.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ts from '../../lib/link/constants.js'
import { PROJECT_ROOT } from '../helpers/root.js'

const read = (path: string): string => readFileSync(join(PROJECT_ROOT, path), 'utf8')

/** `-define(NAME, VALUE).` lines of the header. */
export function hrlDefines (hrl: string): Map<string, string> {
  const defines = new Map<string, string>()
  for (const m of hrl.matchAll(/^-define\((\w+),\s*(.+)\)\.\s*$/gm)) defines.set(m[1] as string, (m[2] as string).trim())
  return defines
}

interface DocRow { value: string, tsName: string, erlName: string }

/** Rows of the document's tables that name a TypeScript constant and an Erlang define. */
export function docRows (doc: string): DocRow[] {
  const rows: DocRow[] = []
  for (const line of doc.split('\n')) {
    // | name | value | `TS_NAME` | `?MEGAPHONE_NAME` |   (\| is a literal bar inside a cell)
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim())
    if (cells.length !== 4) continue
    const tsName = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[2] as string)?.[1]
    const erlName = /^`\?(MEGAPHONE_[A-Z0-9_]+)`$/.exec(cells[3] as string)?.[1]
    if (tsName !== undefined && erlName !== undefined) rows.push({ value: (cells[1] as string).replace(/\\\|/g, '|'), tsName, erlName })
  }
  return rows
}

/** An Erlang define's value as a JavaScript value: integer, `$c`, `<<"text">>`, or a list of binaries. */
export function erlValue (text: string): number | string | string[] {
  if (/^\d+$/.test(text)) return Number(text)
  const char = /^\$(.)$/.exec(text)
  if (char !== null) return char[1] as string
  const binary = /^<<"([^"]*)">>$/.exec(text)
  if (binary !== null) return binary[1] as string
  if (/^\[(\s*<<"[^"]*">>\s*,?)*\]$/.test(text)) return [...text.matchAll(/<<"([^"]*)">>/g)].map((m) => m[1] as string)
  throw new Error(`megaphone_link.hrl: cannot read value ${text} (plain integer, $c, <<"text">> or a list of binaries)`)
}

/** A document cell as the same kind of value as `like`: the first number, the backquoted word, or every backquoted word. */
export function docValue (cell: string, like: unknown): number | string | string[] {
  const words = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)
  if (Array.isArray(like)) return words
  if (typeof like === 'number') {
    const n = /^`?([\d,]+)/.exec(cell)?.[1]
    return n === undefined ? NaN : Number(n.replace(/,/g, ''))
  }
  return words[0] ?? ''
}

const doc = read('docs/link-protocol.md')
const defines = hrlDefines(read('ejabberd/include/megaphone_link.hrl'))
const rows = docRows(doc)
const tsValues = ts as unknown as Record<string, unknown>

// Exports of constants.ts that are not protocol values but ways of writing one.
const TS_ONLY = new Set(['SEPARATOR_BYTE', 'isCloseReason'])

t.test('the document lists every constant and word set of the link (docs/link-protocol.md)', async (t) => {
  t.ok(rows.length >= 18, `found ${rows.length} rows naming both sides`)
  const documentedTs = new Set(rows.map((r) => r.tsName))
  const documentedErl = new Set(rows.map((r) => r.erlName))
  for (const name of Object.keys(ts)) {
    if (!TS_ONLY.has(name)) t.ok(documentedTs.has(name), `lib/link/constants.ts ${name} is in the document`)
  }
  for (const name of defines.keys()) t.ok(documentedErl.has(name), `megaphone_link.hrl ?${name} is in the document`)
})

t.test('each value is the same in the document, in TypeScript and in Erlang', async (t) => {
  for (const { value, tsName, erlName } of rows) {
    const tsValue = tsValues[tsName]
    const erlText = defines.get(erlName)
    t.not(tsValue, undefined, `lib/link/constants.ts exports ${tsName}`)
    t.not(erlText, undefined, `megaphone_link.hrl defines ?${erlName}`)
    if (tsValue === undefined || erlText === undefined) continue
    const expected = Array.isArray(tsValue) ? [...tsValue as string[]] : tsValue
    t.same(erlValue(erlText), expected, `?${erlName} = ${tsName}`)
    t.same(docValue(value, expected), expected, `the document's ${tsName} = lib/link/constants.ts`)
  }
})

t.test('the contract test itself notices drift', async (t) => {
  // A word added on one side only: the comparison above must not be lenient.
  t.notSame(erlValue('[<<"normal">>, <<"extra">>]'), [...ts.CLOSE_REASONS])
  t.notSame(docValue('`normal` `stream-error`', []), [...ts.CLOSE_REASONS])
  t.equal(docValue('1,048,576 bytes (header included)', 0), ts.DEFAULT_MAX_FRAME_BYTES)
  t.throws(() => erlValue('some_macro()'), /cannot read value/)
  t.same(docRows('| separator | `\\|` | `SEPARATOR` | `?MEGAPHONE_SEPARATOR` |'), [{ value: '`|`', tsName: 'SEPARATOR', erlName: 'MEGAPHONE_SEPARATOR' }])
})
