// Links to every node of an ejabberd cluster, as one upstream: a new
// session goes to the ready link with the fewest sessions, and every later
// frame of it to the same link, found from its connection ID alone (each
// link issues its own series of IDs: link i of n issues i + 1, i + 1 + n, …).
// Losing one link ends only the sessions on it (Link does that); the others
// go on, and new sessions go to the links that are up.
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { ErrorCode, MegaphoneError } from '../errors.js'
import type { CloseReason } from './constants.js'
import { Link, type LinkOptions, type LinkSession, type LinkState, type LinkStatus } from './link.js'

export interface LinkTarget {
  host: string
  port: number
}

/** One link's state, for /health and /metrics. */
export interface LinkReport {
  target: string
  status: LinkStatus
  sessions: number
  saturated: boolean
}

export class LinkPool extends EventEmitter implements LinkState {
  readonly links: readonly Link[]
  readonly #targets: readonly string[]

  /** Index of the link new sessions go to while it is ready (a node on this host), or -1. */
  readonly #preferred: number

  /**
   * `prefer`: the index in `targets` of a link that takes every new session
   * while it is ready (an ejabberd node on the same host, say); the others
   * take them, least loaded first, when it is not.
   */
  constructor (targets: readonly LinkTarget[], options: Omit<LinkOptions, 'host' | 'port' | 'firstId' | 'idStride' | 'logger'> & { logger?: Logger, prefer?: number }) {
    super()
    if (targets.length === 0) throw new MegaphoneError(ErrorCode.CONFIG_INVALID, 'at least one link target is needed')
    const { logger, prefer = -1, ...rest } = options
    this.#preferred = prefer
    this.#targets = targets.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
    this.links = targets.map(({ host, port }, i) => new Link({
      ...rest,
      host,
      port,
      firstId: i + 1,
      idStride: targets.length,
      logger: targets.length === 1 ? logger : logger?.child({ target: this.#targets[i] })
    }))
    for (const link of this.links) {
      link.on('saturated', () => this.emit('saturated'))
      link.on('drain', () => { if (!this.saturated) this.emit('drain') })
    }
  }

  /** `ready` while any link is: new sessions can be served. Otherwise the first link's status. */
  get status (): LinkStatus {
    return this.links.some((l) => l.status === 'ready') ? 'ready' : (this.links[0] as Link).status
  }

  get sessionCount (): number {
    let n = 0
    for (const link of this.links) n += link.sessionCount
    return n
  }

  /** True while any link is saturated: client input waits until every link drains. */
  get saturated (): boolean { return this.links.some((l) => l.saturated) }

  get reports (): LinkReport[] {
    return this.links.map((l, i) => ({ target: this.#targets[i] as string, status: l.status, sessions: l.sessionCount, saturated: l.saturated }))
  }

  start (): void { for (const link of this.links) link.start() }

  /** Resolves once every link is ready (tests and benchmarks want them all). */
  async waitReady (timeoutMs: number): Promise<void> {
    await Promise.all(this.links.map(async (l) => { await l.waitReady(timeoutMs) }))
  }

  /** A new session on the preferred link if it is ready, else on the ready link with the fewest sessions; LINK_DOWN when none is ready. */
  open (session: LinkSession, ip: string, port: number): number {
    const preferred = this.links[this.#preferred]
    if (preferred?.status === 'ready') return preferred.open(session, ip, port)
    let best: Link | null = null
    for (const link of this.links) {
      if (link.status === 'ready' && (best === null || link.sessionCount < best.sessionCount)) best = link
    }
    if (best === null) throw new MegaphoneError(ErrorCode.LINK_DOWN, 'no link to ejabberd is ready')
    return best.open(session, ip, port)
  }

  send (id: number, content: Buffer | string): boolean { return this.#linkOf(id).send(id, content) }

  end (id: number, reason?: CloseReason): void { this.#linkOf(id).end(id, reason) }

  async close (): Promise<void> {
    await Promise.all(this.links.map(async (l) => { await l.close() }))
  }

  #linkOf (id: number): Link {
    return this.links[(id - 1) % this.links.length] as Link
  }
}
