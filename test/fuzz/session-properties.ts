// The BOSH session state machine driven by random command sequences
// (fast-check's fc.commands): requests with next, repeated, old, ahead and
// too-far rids, drops, retransmissions, acks, pause, restart, terminate,
// frames and closes from ejabberd, clock jumps. After every command the
// invariants of session-world.ts hold (XEP-0124 8, 9, 11, 14).
import fc from 'fast-check'
import type { RequestBody } from '../../lib/bosh/body.js'
import { STREAM_CLOSE_TIMEOUT_MS, STREAM_OPEN_TIMEOUT_MS, TERMINATE_GAP_GRACE_MS } from '../../lib/bosh/constants.js'
import type { SessionEndReason } from '../../lib/link/link.js'
import type { Coverage } from './coverage.js'
import type { FuzzProperty } from './property.js'
import { CREATION_RID, FEATURES, OPEN_HEADER, World, type WorldConfig } from './session-world.js'

type Model = Record<string, never>

/** A command: a label for the counterexample and the coverage, and what it does to the world. */
class Step implements fc.Command<Model, World> {
  readonly label: string
  readonly #act: (w: World) => void
  constructor (label: string, act: (w: World) => void) {
    this.label = label
    this.#act = act
  }

  check (): boolean { return true }
  run (_m: Model, w: World): void {
    w.cov.count('command', this.label.replace(/[ (].*/, ''))
    this.#act(w)
    w.settle()
    w.check()
  }

  toString (): string { return this.label }
}

/** What a new request asks besides its payload. */
type Extra = 'none' | 'ack' | 'bad-ack' | 'pause' | 'long-pause' | 'terminate' | 'restart'
const extra = fc.oneof(
  { weight: 24, arbitrary: fc.constant<Extra>('none') },
  { weight: 4, arbitrary: fc.constant<Extra>('ack') },
  ...(['pause', 'restart'] as const).map((e) => ({ weight: 2, arbitrary: fc.constant<Extra>(e) })),
  // These end the session.
  ...(['bad-ack', 'long-pause', 'terminate'] as const).map((e) => ({ weight: 1, arbitrary: fc.constant<Extra>(e) }))
)

function newBody (w: World, rid: number, elements: number, what: Extra, back: number): RequestBody {
  const attrs: Record<string, string> = { rid: String(rid) }
  switch (what) {
    case 'ack': attrs.ack = String(Math.max(CREATION_RID, w.lowestUnsent - 1 - back)); break
    case 'bad-ack': attrs.ack = 'x1'; break
    case 'pause': attrs.pause = String(1 + (back % w.cfg.maxPauseSeconds)); break
    case 'long-pause': attrs.pause = String(w.cfg.maxPauseSeconds + 1 + back); break
    case 'terminate': attrs.type = 'terminate'; break
    case 'restart': attrs['xmpp:restart'] = 'true'
  }
  const payload = Array.from({ length: elements }, (_, i) => `<message xmlns='jabber:client' id='c${rid}.${i}'/>`)
  return { rid, attrs, payload }
}

const request = fc.record({
  where: fc.oneof(
    { weight: 10, arbitrary: fc.constant('next') },
    { weight: 3, arbitrary: fc.constant('ahead') },
    { weight: 3, arbitrary: fc.constant('retransmit') },
    // Both end the session (item-not-found): rarer, so that sequences go on.
    { weight: 1, arbitrary: fc.constantFrom('old', 'far') }
  ),
  k: fc.nat({ max: 6 }),
  elements: fc.nat({ max: 2 }),
  what: extra
}).map(({ where, k, elements, what }) => new Step(`request (${where} ${k}, ${elements} elements, ${what})`, (w) => {
  w.cov.count('request', where)
  if (what !== 'none') w.cov.count('request asks', what)
  switch (where) {
    case 'next':
    case 'ahead': {
      const rid = w.lowestUnsent + (where === 'ahead' ? 1 + k : 0)
      w.request(rid, () => newBody(w, rid, elements, what, k))
      return
    }
    case 'retransmit': {
      // One of the rids sent so far, newest first.
      const sent = [...w.bodies.keys()].sort((a, b) => b - a)
      const rid = sent[k % sent.length] as number
      w.request(rid, () => { throw new Error('not a retransmission') })
      return
    }
    case 'old': w.stray(CREATION_RID - 1 - k); return
    case 'far': w.stray(w.highestSent + 50 + k)
  }
}))

const drop = fc.nat().map((k) => new Step(`drop (${k})`, (w) => {
  const open = w.calls.filter((c) => c.answers.length === 0 && !c.dropped)
  const call = open[k % Math.max(1, open.length)]
  if (call === undefined) return
  w.drop(call)
}))

const fromEjabberd = fc.oneof(
  { weight: 16, arbitrary: fc.constant(new Step('element from ejabberd', (w) => { w.deliverElement() })) },
  { weight: 1, arbitrary: fc.constant(new Step('large element from ejabberd (300 KB)', (w) => { w.deliverElement(300_000) })) },
  { weight: 1, arbitrary: fc.constant(new Step('stream header from ejabberd', (w) => { w.fromEjabberd(OPEN_HEADER) })) },
  { weight: 1, arbitrary: fc.constant(new Step('features from ejabberd', (w) => { w.fromEjabberd(FEATURES) })) },
  { weight: 1, arbitrary: fc.constant(new Step('stream error from ejabberd', (w) => { w.fromEjabberd("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>") })) },
  { weight: 1, arbitrary: fc.constant(new Step('close from ejabberd', (w) => { w.fromEjabberd("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>") })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<SessionEndReason>('normal', 'shutdown', 'stream-error', 'error').map((reason) =>
      new Step(`link close (${reason})`, (w) => { w.up.closeFromEjabberd(w.id, reason) }))
  },
  { weight: 1, arbitrary: fc.constant(new Step('registry shutdown', (w) => { w.registry.shutdown() })) }
)

/** Jumps to just before, at and past each timeout, or anywhere up to two minutes. */
const clock = fc.oneof(
  fc.constantFrom('wait', 'inactivity', 'maxpause', 'polling', 'stream open', 'terminate gap', 'stream close').chain((what) =>
    fc.constantFrom(-1, 0, 1).map((delta) => new Step(`clock (${what} ${delta >= 0 ? '+' : ''}${delta} ms)`, (w) => {
      const c = w.cfg
      const ms = {
        wait: c.waitSeconds * 1000,
        inactivity: c.inactivitySeconds * 1000,
        maxpause: c.maxPauseSeconds * 1000,
        polling: c.pollingSeconds * 1000,
        'stream open': STREAM_OPEN_TIMEOUT_MS,
        'terminate gap': TERMINATE_GAP_GRACE_MS,
        'stream close': STREAM_CLOSE_TIMEOUT_MS
      }[what] as number
      w.cov.count('clock jump', what)
      w.clock.advance(Math.max(0, ms + delta))
    }))),
  fc.integer({ min: 0, max: 120_000 }).map((ms) => new Step(`clock (${ms} ms)`, (w) => { w.cov.count('clock jump', 'random'); w.clock.advance(ms) })),
  fc.integer({ min: 0, max: 1_000 }).map((ms) => new Step(`clock (${ms} ms)`, (w) => { w.cov.count('clock jump', 'under a second'); w.clock.advance(ms) }))
)

const config: fc.Arbitrary<WorldConfig> = fc.record({
  hold: fc.nat({ max: 3 }),
  acks: fc.boolean(),
  ridSlack: fc.nat({ max: 3 }),
  strictRequests: fc.boolean(),
  waitSeconds: fc.integer({ min: 1, max: 60 }),
  inactivitySeconds: fc.integer({ min: 2, max: 60 }),
  maxPauseSeconds: fc.integer({ min: 10, max: 120 }),
  pollingSeconds: fc.nat({ max: 3 }),
  openAtStart: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
})

const commands = fc.commands([
  fc.oneof({ weight: 8, arbitrary: request }, { weight: 2, arbitrary: drop }, { weight: 5, arbitrary: fromEjabberd }, { weight: 3, arbitrary: clock })
], { maxCommands: 60, size: 'medium' })

const sessionMachine: FuzzProperty = {
  name: 'BOSH session: any sequence of requests, drops, retransmissions, frames, closes and clock jumps keeps every invariant',
  build: (cov: Coverage) => fc.property(config, commands, (cfg, cmds) => {
    cov.count('hold', String(cfg.hold))
    cov.count('acks', String(cfg.acks))
    cov.count('strict requests', String(cfg.strictRequests))
    const world = new World(cfg, cov)
    fc.modelRun(() => ({ model: {}, real: world }), cmds)
    world.quiesce()
  })
}

export const SESSION_PROPERTIES: FuzzProperty[] = [sessionMachine]
