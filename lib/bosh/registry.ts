// Sessions by sid: creates them from session creation requests (XEP-0124 7.1,
// XEP-0206 3), hands every other request to its session, ends them all on
// shutdown. No HTTP here: routes/http-bind.ts adapts requests to this.
import { randomBytes } from 'node:crypto'

import { BOSH_ERRORS, BoshError } from '../errors.js'
import { boolAttr, uintAttr, type RequestBody } from './body.js'
import { systemClock, type Clock } from '../clock.js'
import { BOSH_VERSION } from './constants.js'
import { terminateBody } from './response.js'
import type { AddressLimits, AddressRefusal } from '../address-limits.js'
import { Session, type Log, type Respond, type SessionContext, type SessionParams, type Upstream } from './session.js'

/** Distinct negotiated parameter sets shared between sessions; beyond it, each session has its own. */
const MAX_SHARED_PARAMS = 256

export interface BoshLimits {
  /** Domains served; a session for any other gets host-unknown (never an open proxy). */
  domains: readonly string[]
  /** Longest `wait` granted (s). */
  maxWaitSeconds: number
  /** Most requests held at once; `requests` is this + 1. */
  maxHold: number
  /** Advertised `inactivity` (s). */
  inactivitySeconds: number
  /** Longest `pause` a client may ask for (s). */
  maxPauseSeconds: number
  /** Advertised `polling` (s): shortest interval between empty requests of a polling session. */
  pollingSeconds: number
  /** Sessions at once; creation beyond it is refused. */
  maxSessions: number
  /** Rids accepted past the window, queued until the gap before them fills (0 with strictRequests). */
  ridSlack: number
  /** XEP-0124 11: more simultaneous requests than `requests` get policy-violation. */
  strictRequests: boolean
}

export interface RegistryOptions extends BoshLimits {
  /**
   * This process's tag, the start of every sid it issues (`<tag>-<128 random
   * bits>`), so that a load balancer can send each request of a session to
   * the process that holds it (scripts/haproxy.cfg.template). None: bare random sids.
   */
  instance?: string | null
  /** XEP-0124 17.2: on shutdown, send clients to this http(s):// URI (see-other-uri) instead of system-shutdown. */
  seeOtherUri?: string | null
  upstream: Upstream
  log: Log
  clock?: Clock
  /** Sessions per client address (shared with WebSocket); none: no limit. */
  addressLimits?: AddressLimits
  /** Told of each creation refused by addressLimits (counted and logged there, not per request). */
  onAddressRefusal?: (refusal: AddressRefusal, ip: string) => void
  /** Defaults to queueMicrotask: answers after the current batch of link frames. */
  defer?: (fn: () => void) => void
}

/** A MIME type with parameters, safe to echo as the response Content-Type. */
const CONTENT_TYPE = /^[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+(\s*;\s*[\w!#$%&'*+.^`|~-]+=("[^"\\\r\n]*"|[\w!#$%&'*+.^`|~-]+))*$/
export const DEFAULT_CONTENT_TYPE = 'text/xml; charset=utf-8'

/** XEP-0124 7.1 `content`: the value when it is a MIME type safe to send back as Content-Type, else null. */
export function contentTypeOf (content: string | undefined): string | null {
  return content !== undefined && content.length <= 128 && CONTENT_TYPE.test(content) ? content : null
}

/** Counters since start, for /metrics. */
export interface RegistryStats {
  requests: number
  created: number
  refused: number
  /** Sessions closed, by terminal condition ('normal' for none). */
  closed: ReadonlyMap<string, number>
}

/** What /health and /metrics read of the sessions. */
export interface SessionCounts {
  readonly size: number
  readonly stats: RegistryStats
}

/** What the BOSH route needs: a request in, the session that took it (to tell it when the client drops the request). */
export interface BoshEndpoint {
  handle (body: RequestBody, respond: Respond, ip: string, port: number): { abandon (respond: Respond): void } | null
  /** The content type of a session's responses (XEP-0124 7.1 `content`), if the session exists. */
  contentTypeOf (sid: string): string | undefined
  /** XEP-0124 17.1: whether the session's client is older than 1.6 (false when there is no such session). */
  isLegacy (sid: string): boolean
}

export class Registry implements SessionCounts, BoshEndpoint {
  readonly #sessions = new Map<string, Session>()
  readonly #limits: BoshLimits
  readonly #seeOtherUri: string | null
  readonly #ctx: SessionContext
  readonly #log: Log
  #requests = 0
  #created = 0
  #refused = 0
  /** Sessions closed, by terminal condition ('normal' for none). */
  readonly #closed = new Map<string, number>()
  readonly #params = new Map<string, SessionParams>()
  readonly #sidPrefix: string
  readonly #addresses: AddressLimits | null
  readonly #onAddressRefusal: (refusal: AddressRefusal, ip: string) => void
  /** The address each session holds a place for in #addresses. */
  readonly #ipOf = new Map<Session, string>()

  constructor (options: RegistryOptions) {
    const { upstream, log, clock = systemClock, defer = queueMicrotask, instance = null, seeOtherUri = null, addressLimits, onAddressRefusal, ...limits } = options
    this.#limits = limits
    this.#seeOtherUri = seeOtherUri
    this.#sidPrefix = instance === null ? '' : `${instance}-`
    this.#log = log
    this.#addresses = addressLimits?.enabled === true ? addressLimits : null
    this.#onAddressRefusal = onAddressRefusal ?? (() => {})
    this.#ctx = {
      upstream,
      clock,
      log,
      defer,
      onEnd: (session) => {
        this.#sessions.delete(session.sid)
        const ip = this.#ipOf.get(session)
        if (ip === undefined) return
        this.#ipOf.delete(session)
        this.#addresses?.close(ip)
      },
      onClose: (condition) => {
        const key = condition ?? 'normal'
        this.#closed.set(key, (this.#closed.get(key) ?? 0) + 1)
      }
    }
  }

  get size (): number { return this.#sessions.size }

  get stats (): RegistryStats {
    return { requests: this.#requests, created: this.#created, refused: this.#refused, closed: this.#closed }
  }

  get (sid: string): Session | undefined { return this.#sessions.get(sid) }

  /** The sids of the sessions open now (tests, diagnostics). */
  sids (): IterableIterator<string> { return this.#sessions.keys() }

  contentTypeOf (sid: string): string | undefined { return this.#sessions.get(sid)?.contentType }

  isLegacy (sid: string): boolean { return this.#sessions.get(sid)?.legacy === true }

  /**
   * One request: a session creation request when it has no sid, else one for
   * an existing session. `respond` is called exactly once, with a complete body.
   * Throws BoshError for a creation request that is refused.
   */
  handle (body: RequestBody, respond: Respond, ip: string, port: number): Session | null {
    this.#requests++
    const sid = body.attrs.sid
    if (sid === undefined) {
      try {
        return this.#create(body, respond, ip, port)
      } catch (err) {
        this.#refused++
        // Counted and logged once per window by the caller's refusals, not once per request: a flood stays one line.
        if (err instanceof BoshError && (err.kind === 'ADDRESS_SESSION_LIMIT' || err.kind === 'ADDRESS_SESSION_RATE')) {
          this.#onAddressRefusal(err.kind === 'ADDRESS_SESSION_LIMIT' ? 'sessions-per-address' : 'session-rate', ip)
          respond(terminateBody(err.condition))
          return null
        }
        throw err
      }
    }
    const session = this.#sessions.get(sid)
    if (session === undefined) {
      // XEP-0124 17.2: an unknown (or ended) session.
      respond(terminateBody(BOSH_ERRORS.UNKNOWN_SID.condition))
      return null
    }
    session.handle(body, respond)
    return session
  }

  /** Ends every session (XEP-0124 17.2 system-shutdown, or see-other-uri when configured), answering their held requests. */
  shutdown (): void {
    for (const session of [...this.#sessions.values()]) session.shutdown(this.#seeOtherUri)
  }

  /**
   * One frozen params object for every session that negotiated the same
   * values (almost all of them), with its strings copied off the request.
   * Bounded, since clients choose some of the values.
   */
  #shared (params: SessionParams): SessionParams {
    const key = JSON.stringify(params)
    const known = this.#params.get(key)
    if (known !== undefined) return known
    const owned = Object.freeze({ ...params, lang: own(params.lang), contentType: own(params.contentType) })
    if (this.#params.size < MAX_SHARED_PARAMS) this.#params.set(key, owned)
    return owned
  }

  #create (body: RequestBody, respond: Respond, ip: string, port: number): Session {
    const { attrs } = body
    const limits = this.#limits
    // XEP-0124 7.1: `to` names the domain; only domains this server serves (XEP-0124 17.2 host-unknown).
    const to = attrs.to
    if (to === undefined || to === '') throw new BoshError('NO_TO')
    // The configured string, not the request's: a substring would keep the whole body alive.
    const domain = limits.domains.find((d) => d === to.toLowerCase())
    if (domain === undefined) throw new BoshError('HOST_UNKNOWN')
    if (attrs.wait === undefined) throw new BoshError('NO_WAIT')
    // XEP-0206 3: xmpp:version announces XMPP 1.0 support; older clients are not served.
    if (attrs['xmpp:version'] !== undefined && !/^1\.\d+$/.test(attrs['xmpp:version'])) {
      throw new BoshError('XMPP_VERSION')
    }
    const contentType = attrs.content === undefined ? DEFAULT_CONTENT_TYPE : contentTypeOf(attrs.content)
    if (contentType === null) throw new BoshError('BAD_CONTENT')
    if (this.#sessions.size >= limits.maxSessions) throw new BoshError('SESSION_LIMIT')
    const newkey = attrs.newkey
    if (newkey !== undefined && !/^[0-9a-f]{40}$/i.test(newkey)) throw new BoshError('BAD_NEWKEY')
    // Last, so that only a creation that would succeed takes a token.
    const refused = this.#addresses?.open(ip) ?? null
    if (refused !== null) throw new BoshError(refused.refusal === 'sessions-per-address' ? 'ADDRESS_SESSION_LIMIT' : 'ADDRESS_SESSION_RATE')

    // XEP-0124 7.2: wait and hold no more than requested nor allowed.
    const waitSeconds = Math.min(uintAttr(attrs, 'wait', limits.maxWaitSeconds), limits.maxWaitSeconds)
    const hold = Math.min(uintAttr(attrs, 'hold', 1), limits.maxHold)
    const params = this.#shared({
      domain,
      lang: attrs['xml:lang'] ?? '',
      ver: negotiateVersion(attrs.ver),
      legacy: attrs.ver === undefined,
      waitSeconds,
      hold,
      inactivitySeconds: limits.inactivitySeconds,
      maxPauseSeconds: limits.maxPauseSeconds,
      pollingSeconds: limits.pollingSeconds,
      ridSlack: limits.strictRequests ? 0 : limits.ridSlack,
      strictRequests: limits.strictRequests,
      contentType,
      // XEP-0124 9.1: the client asks for acknowledgements with ack='1'.
      acks: attrs.ack === '1' || boolAttr(attrs, 'ack')
    })
    const session = new Session(this.#sidPrefix + newSid(), params, newkey?.toLowerCase() ?? null, body.rid, respond, this.#ctx)
    this.#sessions.set(session.sid, session)
    if (this.#addresses !== null) this.#ipOf.set(session, own(ip))
    this.#created++
    this.#log.debug({ sid: session.sid, waitSeconds, hold }, 'session created')
    session.start(ip, port)
    return session
  }
}

/**
 * A copy of a string taken from a request, for keeping: V8 may represent a
 * substring as a slice of its parent, which would keep the whole request body
 * alive as long as the session. Common values are interned.
 */
function own (s: string): string {
  if (s.length < 13) return s // V8 copies short substrings anyway
  if (s === DEFAULT_CONTENT_TYPE) return DEFAULT_CONTENT_TYPE
  return Buffer.from(s, 'utf8').toString('utf8')
}

/** XEP-0124 7.1: at least 128 bits from a CSPRNG; URL-safe (after the instance's tag, if any). */
function newSid (): string {
  return randomBytes(16).toString('hex')
}

/** XEP-0124 7.2: the highest version both sides support. */
function negotiateVersion (ver: string | undefined): string {
  const m = ver === undefined ? null : /^(\d+)\.(\d+)$/.exec(ver)
  if (m === null) return BOSH_VERSION
  const [, major, minor] = m
  const ours = BOSH_VERSION.split('.').map(Number) as [number, number]
  const theirs = [Number(major), Number(minor)] as const
  return theirs[0] < ours[0] || (theirs[0] === ours[0] && theirs[1] < ours[1]) ? `${theirs[0]}.${theirs[1]}` : BOSH_VERSION
}
