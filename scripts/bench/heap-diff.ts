// What a V8 heap holds more of in one snapshot than in another, per session:
// by node type and constructor (or function) name, for strings by their text
// with digits and sids masked, so that "one creation request body per
// session" shows up as one row, and by owner (heap-owners.ts). Reads the
// .heapsnapshot JSON (fields as listed in its own meta), so it needs a few
// times the snapshot's size in memory.
import { readFile } from 'node:fs/promises'
import { heapOwners, type OwnerRow } from './heap-owners.js'

export interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[]
      node_types: [string[], ...unknown[]]
      edge_fields: string[]
      edge_types: [string[], ...unknown[]]
    }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

interface Tally { count: number, bytes: number }
type Tallies = Map<string, Tally>

const STRING_TYPES = new Set(['string', 'concatenated string', 'sliced string'])

function add (m: Tallies, key: string, bytes: number): void {
  const t = m.get(key)
  if (t === undefined) m.set(key, { count: 1, bytes })
  else { t.count++; t.bytes += bytes }
}

async function load (path: string): Promise<HeapSnapshot> {
  return JSON.parse(await readFile(path, 'utf8')) as HeapSnapshot
}

/** Self sizes summed by `type: name`, and strings by masked text. */
function tally (s: HeapSnapshot): { byName: Tallies, strings: Tallies } {
  const fields = s.snapshot.meta.node_fields
  const types = s.snapshot.meta.node_types[0]
  const width = fields.length
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number]
  const byName: Tallies = new Map()
  const strings: Tallies = new Map()
  for (let i = 0; i < s.nodes.length; i += width) {
    const t = types[s.nodes[i + type]!]!
    const text = s.strings[s.nodes[i + name]!]!
    const bytes = s.nodes[i + size]!
    if (STRING_TYPES.has(t)) {
      add(byName, `${t}`, bytes)
      add(strings, JSON.stringify(text.replace(/\b[0-9a-f]{32}\b/g, '<sid>').replace(/\d+/g, '#').slice(0, 100)), bytes)
    } else {
      add(byName, t === 'object' || t === 'closure' || t === 'native' || t === 'synthetic' ? `${t}: ${text.slice(0, 60)}` : t, bytes)
    }
  }
  return { byName, strings }
}

export interface HeapDiffRow { key: string, countPerSession: number, bytesPerSession: number }

function diff (before: Tallies, after: Tallies, n: number): HeapDiffRow[] {
  const rows: HeapDiffRow[] = []
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    rows.push({ key, countPerSession: (a.count - b.count) / n, bytesPerSession: (a.bytes - b.bytes) / n })
  }
  return rows.sort((x, y) => y.bytesPerSession - x.bytesPerSession)
}

export interface HeapDiff { bytesPerSession: number, byName: HeapDiffRow[], strings: HeapDiffRow[], owners: OwnerRow[] }

function ids (s: HeapSnapshot): Set<number> {
  const width = s.snapshot.meta.node_fields.length
  const id = s.snapshot.meta.node_fields.indexOf('id')
  const all = new Set<number>()
  for (let i = id; i < s.nodes.length; i += width) all.add(s.nodes[i]!)
  return all
}

/** Per session growth from `beforePath` to `afterPath`, `n` sessions apart. */
export async function heapDiff (beforePath: string, afterPath: string, n: number): Promise<HeapDiff> {
  const beforeSnapshot = await load(beforePath)
  const before = tally(beforeSnapshot)
  // V8 keeps an object's id across the snapshots of one process: new objects are those with new ids.
  const beforeIds = ids(beforeSnapshot)
  const afterSnapshot = await load(afterPath)
  const after = tally(afterSnapshot)
  const byName = diff(before.byName, after.byName, n)
  return {
    bytesPerSession: byName.reduce((sum, r) => sum + r.bytesPerSession, 0),
    byName,
    strings: diff(before.strings, after.strings, n),
    owners: heapOwners(beforeIds, afterSnapshot, n)
  }
}
