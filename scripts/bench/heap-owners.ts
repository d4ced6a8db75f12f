// Who holds a heap's growth between two snapshots of one process: each new
// object is charged to its nearest owner in the dominator tree of the later
// snapshot (Cooper, Harvey and Kennedy's iterative algorithm). Owners are the
// objects a held BOSH request is made of, by constructor (OWNERS); closures
// and their contexts go by the script their code is in (node:…, Fastify,
// Megaphone's files); the responses a Session keeps for retransmission are
// their own row. What several owners share is charged to its holders' group
// when they agree. A model for reading, not an exact account: a byte has one
// owner here, and JIT code or hash-table growth lands in "other".
import type { HeapSnapshot } from './heap-diff.js'

/** Constructors that own what they dominate, and the group they stand for. */
const OWNERS: Record<string, string> = {
  Session: 'Session',
  Request: 'Fastify Request/Reply',
  _Request: 'Fastify Request/Reply',
  Reply: 'Fastify Request/Reply',
  _Reply: 'Fastify Request/Reply',
  Socket: 'node:http connection',
  TCP: 'node:http connection',
  'Node / TCPSocketWrap': 'node:http connection',
  HTTPParser: 'node:http connection',
  IncomingMessage: 'node:http request/response',
  ServerResponse: 'node:http request/response'
}
/** The Session field holding the responses kept for retransmission (XEP-0124 14.3). */
const SENT_FIELD = '#sent'
const SENT_GROUP = 'Session: responses kept for retransmission'
const OTHER = 'other'
/** Links between timers in Node's timer lists: followed, every Timeout would belong to its neighbours. */
const TIMER_LINKS = new Set(['_idleNext', '_idlePrev'])

export interface OwnerRow {
  owner: string
  bytesPerSession: number
  /** The largest kinds of object in the group, bytes per session. */
  parts: Array<{ kind: string, bytesPerSession: number }>
}

/** Where a closure's code lives, for its group name. */
function codeGroup (url: string): string {
  if (url.startsWith('node:')) return 'node:http'
  if (url.includes('/node_modules/fastify/')) return 'Fastify'
  const own = /\/dist\/((?:lib|routes)\/.*)\.js$/.exec(url)
  if (own !== null) return own[1]!
  return url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\//, '') || '(unknown script)'
}

/** Growth from the snapshot holding `beforeIds` to `after`, by owner, per session. */
export function heapOwners (beforeIds: ReadonlySet<number>, after: HeapSnapshot, n: number): OwnerRow[] {
  const meta = after.snapshot.meta
  const nodeWidth = meta.node_fields.length
  const edgeWidth = meta.edge_fields.length
  const nodeTypes = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const [fType, fName, fId, fSize, fEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as
    [number, number, number, number, number]
  const { nodes, edges, strings } = after
  const count = nodes.length / nodeWidth
  const type = (x: number): string => nodeTypes[nodes[x * nodeWidth + fType]!]!
  const name = (x: number): string => strings[nodes[x * nodeWidth + fName]!]!
  const isNew = (x: number): boolean => !beforeIds.has(nodes[x * nodeWidth + fId]!)
  const first = new Uint32Array(count + 1)
  for (let x = 0, e = 0; x < count; x++) {
    first[x] = e
    e += nodes[x * nodeWidth + fEdges]! * edgeWidth
  }
  first[count] = edges.length
  const edgeName = (e: number): string => {
    const t = edgeTypes[edges[e]!]
    return t === 'element' || t === 'hidden' ? String(edges[e + 1]) : strings[edges[e + 1]!]!
  }
  const followed = (e: number): boolean => edgeTypes[edges[e]!] !== 'weak' && !TIMER_LINKS.has(edgeName(e))
  const target = (e: number): number => edges[e + 2]! / nodeWidth
  const child = (x: number, field: string): number => {
    for (let e = first[x]!; e < first[x + 1]!; e += edgeWidth) if (edgeName(e) === field) return target(e)
    return -1
  }

  // Post order from the root (node 0) over the followed edges.
  const post = new Int32Array(count).fill(-1)
  const order = new Int32Array(count)
  let reached = 0
  {
    const stack = new Int32Array(count)
    const next = new Uint32Array(count)
    let sp = 0
    stack[sp++] = 0
    post[0] = -2
    next[0] = first[0]!
    while (sp > 0) {
      const x = stack[sp - 1]!
      if (next[x]! < first[x + 1]!) {
        const e = next[x]!
        next[x] = e + edgeWidth
        if (!followed(e)) continue
        const t = target(e)
        if (post[t] !== -1) continue
        post[t] = -2
        next[t] = first[t]!
        stack[sp++] = t
      } else {
        sp--
        post[x] = reached
        order[reached++] = x
      }
    }
  }
  // Predecessors, compressed rows.
  const predStart = new Uint32Array(count + 1)
  for (let x = 0; x < count; x++) {
    if (post[x]! < 0) continue
    for (let e = first[x]!; e < first[x + 1]!; e += edgeWidth) if (followed(e)) predStart[target(e) + 1]!++
  }
  for (let x = 0; x < count; x++) predStart[x + 1]! += predStart[x]!
  const preds = new Int32Array(predStart[count]!)
  {
    const fill = predStart.slice()
    for (let x = 0; x < count; x++) {
      if (post[x]! < 0) continue
      for (let e = first[x]!; e < first[x + 1]!; e += edgeWidth) if (followed(e)) preds[fill[target(e)]!++] = x
    }
  }
  const idom = new Int32Array(count).fill(-1)
  idom[0] = 0
  for (let changed = true; changed;) {
    changed = false
    for (let i = reached - 2; i >= 0; i--) {
      const b = order[i]!
      let d = -1
      for (let k = predStart[b]!; k < predStart[b + 1]!; k++) {
        let p = preds[k]!
        if (idom[p] === -1) continue
        if (d === -1) { d = p; continue }
        while (p !== d) {
          while (post[p]! < post[d]!) p = idom[p]!
          while (post[d]! < post[p]!) d = idom[d]!
        }
      }
      if (d !== idom[b]) { idom[b] = d; changed = true }
    }
  }

  // Closures by script; each closure's context goes with it.
  const scriptOf = (closure: number): string => {
    const fn = name(closure) === 'native_bind' ? child(closure, 'bound_function') : closure
    const script = fn < 0 ? -1 : child(child(fn, 'shared'), 'script_or_debug_info')
    return script < 0 ? '(unknown script)' : name(script)
  }
  const closureGroup = (closure: number): string => `closures: ${codeGroup(scriptOf(closure))}`
  const contextGroup = new Map<number, string>()
  for (let x = 0; x < count; x++) {
    if (type(x) !== 'closure' || !isNew(x)) continue
    const context = child(x, 'context')
    if (context >= 0 && isNew(context) && !contextGroup.has(context)) contextGroup.set(context, closureGroup(x))
  }
  const byDominator = (x: number): string => {
    for (let y = x; ; y = idom[y]!) {
      if (type(y) === 'closure' && isNew(y)) return closureGroup(y)
      const context = contextGroup.get(y)
      if (context !== undefined) return context
      const owner = OWNERS[name(y)]
      if (owner !== undefined && (type(y) === 'object' || type(y) === 'synthetic')) return owner
      if (y === 0 || idom[y]! < 0) return OTHER
    }
  }
  const group = new Array<string>(count)
  for (let x = 0; x < count; x++) if (post[x]! >= 0 && isNew(x)) group[x] = byDominator(x)
  // The Session's retransmission buffer: its #sent array and what it alone holds.
  for (let x = 0; x < count; x++) {
    if (name(x) !== 'Session' || type(x) !== 'object' || !isNew(x)) continue
    const sent = child(x, SENT_FIELD)
    const stack = sent >= 0 && isNew(sent) ? [sent] : []
    for (let y = stack.pop(); y !== undefined; y = stack.pop()) {
      group[y] = SENT_GROUP
      for (let e = first[y]!; e < first[y + 1]!; e += edgeWidth) {
        const t = target(e)
        if (idom[t] === y && isNew(t)) stack.push(t)
      }
    }
  }
  // What only a root dominates, but whose new holders all belong to one group.
  for (let round = 0; round < 4; round++) {
    for (let x = 0; x < count; x++) {
      if (group[x] !== OTHER) continue
      const holders = new Set<string>()
      for (let k = predStart[x]!; k < predStart[x + 1]!; k++) {
        const g = group[preds[k]!]
        if (g !== undefined && g !== OTHER) holders.add(g)
      }
      if (holders.size === 1) group[x] = [...holders][0]!
    }
  }

  const totals = new Map<string, Map<string, number>>()
  for (let x = 0; x < count; x++) {
    const g0 = group[x]
    if (g0 === undefined) continue
    const t = type(x)
    const kind = t === 'object' || t === 'closure' || t === 'synthetic' || t === 'native' ? `${t}: ${name(x).slice(0, 40) || '(anonymous)'}` : t
    const g = kind === 'native: system / JSArrayBufferData' ? `Buffer contents (external), held by ${g0}` : g0
    const kinds = totals.get(g) ?? new Map<string, number>()
    kinds.set(kind, (kinds.get(kind) ?? 0) + nodes[x * nodeWidth + fSize]!)
    totals.set(g, kinds)
  }
  return [...totals].map(([owner, kinds]) => ({
    owner,
    bytesPerSession: [...kinds.values()].reduce((a, b) => a + b, 0) / n,
    parts: [...kinds].map(([kind, bytes]) => ({ kind, bytesPerSession: bytes / n })).sort((a, b) => b.bytesPerSession - a.bytesPerSession)
  })).sort((a, b) => b.bytesPerSession - a.bytesPerSession)
}
