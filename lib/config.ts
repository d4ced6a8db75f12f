// Megaphone's configuration: one typed, frozen object, read from an optional
// JSON file (MEGAPHONE_CONFIG) and then environment variables, which win.
// Every option has its unit in its name and a default here, nowhere else.
import { accessSync, constants, readFileSync } from 'node:fs'
import { ErrorCode, MegaphoneError } from './errors.js'
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  HEADER_BYTES
} from './link/constants.js'

export interface LinkConfig {
  /** ejabberd's megaphone_listener address. Default 127.0.0.1. */
  host: string
  /** Its port. Default 5899. */
  port: number
  /**
   * Every ejabberd node to keep a link to (the nodes of one cluster), as
   * host:port. Default: host and port above, one link.
   */
  targets: Array<{ host: string, port: number }>
  /** One of `targets` (host:port) that takes every new session while its link is ready, e.g. the node on this host. Default none. */
  prefer: { host: string, port: number } | null
  /** Shared secret, the listener's `secret`. Required; from MEGAPHONE_LINK_SECRET or the file in MEGAPHONE_LINK_SECRET_FILE. */
  secret: string
  /** Largest frame accepted from ejabberd, header included (bytes). Default 1048576. */
  maxFrameBytes: number
  /** How often to ping ejabberd (ms). Default 5000. */
  heartbeatIntervalMs: number
  /** Silence after which the link is declared dead and reconnected (ms). Default 15000. */
  heartbeatTimeoutMs: number
  /** First reconnect delay (ms); doubles per failed attempt. Default 100. */
  reconnectMinDelayMs: number
  /** Cap on the reconnect delay (ms). Default 10000. */
  reconnectMaxDelayMs: number
  /**
   * TLS on every link (the listeners' `tls: true`), for links that leave the
   * host; null (off) by default. The listener's certificate is always
   * verified: there is no switch to turn that off.
   */
  tls: LinkTlsConfig | null
}

export interface LinkTlsConfig {
  /** PEM file of the authorities that signed the listeners' certificates. Default: Node's bundled public roots. */
  caFile: string | null
  /** The name the listeners' certificates must carry. Default: each target's host (name or IP address). */
  serverName: string | null
  /** Megaphone's own certificate chain (PEM), for listeners with `tls_verify: true`. With keyFile; default none. */
  certFile: string | null
  /** Its private key (PEM). */
  keyFile: string | null
}

export interface HttpConfig {
  /** Address the HTTP server binds. Default 127.0.0.1. */
  host: string
  /** Its port. Default 5280. */
  port: number
  /** Take the client's address from X-Forwarded-For (behind a trusted load balancer only). Default false. */
  trustProxy: boolean
  /**
   * On SIGTERM, how long to take no new session (/health 503) before closing
   * the open ones, so that a balancer has seen /health fail (s). Default 3.
   */
  drainSeconds: number
  /** PEM certificate chain: serve HTTPS instead of HTTP. With tlsKeyFile; default none. */
  tlsCertFile: string | null
  /** PEM private key for tlsCertFile. */
  tlsKeyFile: string | null
  /**
   * A connection's request headers must be complete this long after it was
   * accepted (the first request: silent connections, TLS handshakes included)
   * or after their first byte (later requests); else 408 and closed (s). Default 20.
   */
  requestHeadersSeconds: number
  /** A whole request, body included, must arrive this long after its first byte; else 408 and closed (s). Default 60. */
  requestBodySeconds: number
  /** An idle keep-alive connection is closed after this long (s). Default bosh.maxWaitSeconds + 15. */
  keepAliveSeconds: number
}

/** Bounds on greedy clients (README "Hostile clients"). */
export interface LimitsConfig {
  /** HTTP connections at once; past it new ones are closed at once. 0: the open-file limit less reservedFiles. Default 0. */
  maxConnections: number
  /** With maxConnections 0: descriptors kept for everything but HTTP connections (links, logs, files, ejabberd control). Default 256. */
  reservedFiles: number
  /** Idle keep-alive connections kept per client address (the TCP peer; off with http.trustProxy); 0: no limit. Default 1024. */
  idleConnectionsPerAddress: number
  /** Sessions (BOSH and WebSocket) open at once from one address; 0: no cap. Default 1000. */
  maxSessionsPerAddress: number
  /** Sessions one address may create in a burst before the rate applies. Default 500. */
  sessionBurstPerAddress: number
  /** Sessions one address may create per second, sustained (token bucket); 0: no rate limit. Default 50. */
  sessionsPerSecondPerAddress: number
  /** Addresses whose creation rate is remembered; past it the least recently seen is forgotten. Default 100000. */
  maxAddresses: number
}

export interface BoshConfig {
  /** URL path of the BOSH endpoint. Default /http-bind. */
  path: string
  /** XMPP domains served (the `to` of session creation); any other gets host-unknown. Default ["localhost"]. */
  domains: string[]
  /** Longest `wait` granted to a client (s). Default 60. */
  maxWaitSeconds: number
  /** Most requests held per session; clients get `requests` = hold + 1. Default 1. */
  maxHold: number
  /** Advertised `inactivity`: a session with no request open this long ends (s). Default 60. */
  inactivitySeconds: number
  /** Longest `pause` a client may ask for (s). Default 120. */
  maxPauseSeconds: number
  /** Advertised `polling`: shortest interval between empty requests of a polling (hold 0) session (s). Default 2. */
  pollingSeconds: number
  /** Largest request body (bytes); larger gets HTTP 413. Default 262144. */
  maxBodyBytes: number
  /** Sessions at once; creation beyond it gets policy-violation. Default 1000000. */
  maxSessions: number
  /** Origins allowed by CORS, or ["*"] for any. Default ["*"]. */
  corsOrigins: string[]
  /**
   * Rids accepted past the window of `requests` and queued until the gap
   * before them fills (networks reorder; some clients, such as tsung's, have
   * one request too many out). 0 is the XEP's window exactly. Default 2.
   */
  ridSlack: number
  /**
   * XEP-0124 11 to the letter: more simultaneous requests than `requests` end
   * the session with policy-violation, and no rid slack. Default false: the
   * oldest held request is answered early instead (XEP-0124 8).
   */
  strictRequests: boolean
  /** XEP-0124 17.2: on shutdown, send clients to this http:// or https:// URI (see-other-uri) instead of system-shutdown. Default none. */
  seeOtherUri: string | null
  /** XEP-0124 5: gzip or deflate responses for clients whose Accept-Encoding asks for it. Default true (docs/compression.md). */
  compressResponses: boolean
  /** Smallest response body compressed (bytes); smaller ones, such as the empty bodies of held requests, go out as they are. Default 1024. */
  compressMinBytes: number
}

export interface WebsocketConfig {
  /** Serve XMPP over WebSocket (RFC 7395) on the HTTP port. Default true. */
  enabled: boolean
  /** URL path of the endpoint. Default /xmpp-websocket. */
  path: string
  /** Largest client message (bytes); larger gets a policy-violation stream error. Default 262144. */
  maxMessageBytes: number
  /** Output queued for a client that does not read, beyond which it is cut off (bytes). Default 1048576. */
  maxBufferedBytes: number
  /** Seconds between pings; a client silent for two of them is dropped as a lost network. 0 turns pings off. Default 30. */
  pingIntervalSeconds: number
  /** RFC 7692 permessage-deflate. Default false: each compressed socket keeps zlib state (memory). */
  perMessageDeflate: boolean
  /** RFC 7395 3.6.1: on shutdown, send clients to this ws:// or wss:// URI instead of a system-shutdown stream error. Default none. */
  seeOtherUri: string | null
}

export interface ClientConfig {
  /** Serve the browser chat page at / (same origin as BOSH). Default true. */
  enabled: boolean
  /** Serve Converse.js, from the installed npm package, at /converse/. Default true. */
  converse: boolean
}

export interface MemoryConfig {
  /**
   * Run a full garbage collection when the process goes quiet after its heap
   * grew (lib/idle-collector.ts): memory held by the garbage of a login or
   * logout storm goes back to the system. Default true.
   */
  idleCollect: boolean
}

export interface Config {
  http: HttpConfig
  link: LinkConfig
  bosh: BoshConfig
  websocket: WebsocketConfig
  client: ClientConfig
  memory: MemoryConfig
  limits: LimitsConfig
  /**
   * This process's tag among several behind one load balancer: every BOSH
   * sid starts with it, so the balancer routes each request to the process
   * that holds its session. 1 to 16 lower-case letters and digits. Default none.
   */
  instance: string | null
  /** pino level: fatal, error, warn, info, debug, trace or silent. Default info. */
  logLevel: string
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Option table: config-file key, environment variable, default, bounds. */
const LINK_NUMBERS = {
  port: { env: 'MEGAPHONE_LINK_PORT', default: 5899, min: 1, max: 65535 },
  maxFrameBytes: { env: 'MEGAPHONE_LINK_MAX_FRAME_BYTES', default: DEFAULT_MAX_FRAME_BYTES, min: HEADER_BYTES + 1024, max: 64 << 20 },
  heartbeatIntervalMs: { env: 'MEGAPHONE_LINK_HEARTBEAT_INTERVAL_MS', default: DEFAULT_HEARTBEAT_INTERVAL_MS, min: 50, max: 600_000 },
  heartbeatTimeoutMs: { env: 'MEGAPHONE_LINK_HEARTBEAT_TIMEOUT_MS', default: DEFAULT_HEARTBEAT_TIMEOUT_MS, min: 100, max: 3_600_000 },
  reconnectMinDelayMs: { env: 'MEGAPHONE_LINK_RECONNECT_MIN_DELAY_MS', default: 100, min: 1, max: 600_000 },
  reconnectMaxDelayMs: { env: 'MEGAPHONE_LINK_RECONNECT_MAX_DELAY_MS', default: 10_000, min: 1, max: 3_600_000 }
} as const satisfies Record<string, { env: string, default: number, min: number, max: number }>

const BOSH_NUMBERS = {
  maxWaitSeconds: { env: 'MEGAPHONE_BOSH_MAX_WAIT_SECONDS', default: 60, min: 1, max: 3600 },
  maxHold: { env: 'MEGAPHONE_BOSH_MAX_HOLD', default: 1, min: 0, max: 10 },
  inactivitySeconds: { env: 'MEGAPHONE_BOSH_INACTIVITY_SECONDS', default: 60, min: 1, max: 3600 },
  maxPauseSeconds: { env: 'MEGAPHONE_BOSH_MAX_PAUSE_SECONDS', default: 120, min: 0, max: 3600 },
  pollingSeconds: { env: 'MEGAPHONE_BOSH_POLLING_SECONDS', default: 2, min: 0, max: 60 },
  maxBodyBytes: { env: 'MEGAPHONE_BOSH_MAX_BODY_BYTES', default: 262_144, min: 1024, max: 64 << 20 },
  maxSessions: { env: 'MEGAPHONE_BOSH_MAX_SESSIONS', default: 1_000_000, min: 1, max: 100_000_000 },
  ridSlack: { env: 'MEGAPHONE_BOSH_RID_SLACK', default: 2, min: 0, max: 16 },
  compressMinBytes: { env: 'MEGAPHONE_BOSH_COMPRESS_MIN_BYTES', default: 1024, min: 0, max: 16 << 20 }
} as const satisfies Record<string, { env: string, default: number, min: number, max: number }>

const WEBSOCKET_NUMBERS = {
  maxMessageBytes: { env: 'MEGAPHONE_WEBSOCKET_MAX_MESSAGE_BYTES', default: 262_144, min: 1024, max: 16 << 20 },
  maxBufferedBytes: { env: 'MEGAPHONE_WEBSOCKET_MAX_BUFFERED_BYTES', default: 1 << 20, min: 16_384, max: 256 << 20 },
  pingIntervalSeconds: { env: 'MEGAPHONE_WEBSOCKET_PING_INTERVAL_SECONDS', default: 30, min: 0, max: 3600 }
} as const satisfies Record<string, { env: string, default: number, min: number, max: number }>

const HTTP_NUMBERS = {
  requestHeadersSeconds: { env: 'MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS', default: 20, min: 1, max: 600 },
  requestBodySeconds: { env: 'MEGAPHONE_HTTP_REQUEST_BODY_SECONDS', default: 60, min: 1, max: 3600 }
} as const satisfies Record<string, { env: string, default: number, min: number, max: number }>

const LIMITS_NUMBERS = {
  maxConnections: { env: 'MEGAPHONE_LIMITS_MAX_CONNECTIONS', default: 0, min: 0, max: 10_000_000 },
  reservedFiles: { env: 'MEGAPHONE_LIMITS_RESERVED_FILES', default: 256, min: 16, max: 1_000_000 },
  idleConnectionsPerAddress: { env: 'MEGAPHONE_LIMITS_IDLE_CONNECTIONS_PER_ADDRESS', default: 1024, min: 0, max: 10_000_000 },
  maxSessionsPerAddress: { env: 'MEGAPHONE_LIMITS_MAX_SESSIONS_PER_ADDRESS', default: 1000, min: 0, max: 100_000_000 },
  sessionBurstPerAddress: { env: 'MEGAPHONE_LIMITS_SESSION_BURST_PER_ADDRESS', default: 500, min: 1, max: 10_000_000 },
  sessionsPerSecondPerAddress: { env: 'MEGAPHONE_LIMITS_SESSIONS_PER_SECOND_PER_ADDRESS', default: 50, min: 0, max: 1_000_000 },
  maxAddresses: { env: 'MEGAPHONE_LIMITS_MAX_ADDRESSES', default: 100_000, min: 100, max: 100_000_000 }
} as const satisfies Record<string, { env: string, default: number, min: number, max: number }>

export function loadConfig (env: Env = process.env): Readonly<Config> {
  const file = env.MEGAPHONE_CONFIG === undefined ? {} : readConfigFile(env.MEGAPHONE_CONFIG)
  const fileLink = isObject(file.link) ? file.link : {}

  const numbers = numberTable('link', LINK_NUMBERS, env, fileLink)

  const host = env.MEGAPHONE_LINK_HOST ?? fileLink.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host === '') invalid('link.host (MEGAPHONE_LINK_HOST) must be a host name or address')

  const targetsRaw = env.MEGAPHONE_LINK_TARGETS ?? fileLink.targets
  const targets = targetsRaw === undefined
    ? [{ host, port: numbers.port }]
    : list('link.targets (MEGAPHONE_LINK_TARGETS)', targetsRaw).map((t) => linkTarget(t))
  if (targets.length === 0) invalid('link.targets (MEGAPHONE_LINK_TARGETS) must list at least one host:port')
  const preferRaw = env.MEGAPHONE_LINK_PREFER ?? fileLink.prefer ?? null
  const prefer = preferRaw === null || preferRaw === '' ? null : linkTarget(String(preferRaw))
  if (prefer !== null && !targets.some((t) => t.host === prefer.host && t.port === prefer.port)) {
    invalid('link.prefer (MEGAPHONE_LINK_PREFER) must be one of link.targets')
  }

  let secret = env.MEGAPHONE_LINK_SECRET ?? fileLink.secret
  const secretFile = env.MEGAPHONE_LINK_SECRET_FILE ?? fileLink.secretFile
  if (secret === undefined && typeof secretFile === 'string') {
    try {
      secret = readFileSync(secretFile, 'utf8').trim()
    } catch (err) {
      invalid(`link.secretFile (MEGAPHONE_LINK_SECRET_FILE): cannot read ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
  }
  if (typeof secret !== 'string' || secret.length < 16) {
    invalid('link.secret (MEGAPHONE_LINK_SECRET or MEGAPHONE_LINK_SECRET_FILE) is required: at least 16 characters, the same as the listener\'s `secret` in ejabberd.yml')
  }
  if (numbers.heartbeatIntervalMs >= numbers.heartbeatTimeoutMs) {
    invalid('link.heartbeatIntervalMs must be shorter than link.heartbeatTimeoutMs')
  }
  if (numbers.reconnectMinDelayMs > numbers.reconnectMaxDelayMs) {
    invalid('link.reconnectMinDelayMs must not exceed link.reconnectMaxDelayMs')
  }
  const linkTls = boolean('link.tls (MEGAPHONE_LINK_TLS)', env.MEGAPHONE_LINK_TLS ?? fileLink.tls, false)
    ? {
        caFile: readablePath('link.tlsCaFile (MEGAPHONE_LINK_TLS_CA_FILE)', env.MEGAPHONE_LINK_TLS_CA_FILE ?? fileLink.tlsCaFile),
        serverName: serverName(env.MEGAPHONE_LINK_TLS_SERVER_NAME ?? fileLink.tlsServerName),
        certFile: readablePath('link.tlsCertFile (MEGAPHONE_LINK_TLS_CERT_FILE)', env.MEGAPHONE_LINK_TLS_CERT_FILE ?? fileLink.tlsCertFile),
        keyFile: readablePath('link.tlsKeyFile (MEGAPHONE_LINK_TLS_KEY_FILE)', env.MEGAPHONE_LINK_TLS_KEY_FILE ?? fileLink.tlsKeyFile)
      }
    : null
  if (linkTls !== null && (linkTls.certFile === null) !== (linkTls.keyFile === null)) {
    invalid('link.tlsCertFile and link.tlsKeyFile (MEGAPHONE_LINK_TLS_CERT_FILE, MEGAPHONE_LINK_TLS_KEY_FILE) go together')
  }

  const fileHttp = isObject(file.http) ? file.http : {}
  const httpHost = env.MEGAPHONE_HTTP_HOST ?? fileHttp.host ?? '127.0.0.1'
  if (typeof httpHost !== 'string' || httpHost === '') invalid('http.host (MEGAPHONE_HTTP_HOST) must be a host name or address')
  const httpPortRaw = env.MEGAPHONE_HTTP_PORT ?? fileHttp.port
  const httpPort = httpPortRaw === undefined ? 5280 : integer('http.port (MEGAPHONE_HTTP_PORT)', httpPortRaw, 0, 65535)
  const drainRaw = env.MEGAPHONE_HTTP_DRAIN_SECONDS ?? fileHttp.drainSeconds
  const drainSeconds = drainRaw === undefined ? 3 : integer('http.drainSeconds (MEGAPHONE_HTTP_DRAIN_SECONDS)', drainRaw, 0, 600)

  const logLevel = env.MEGAPHONE_LOG_LEVEL ?? file.logLevel ?? 'info'
  if (typeof logLevel !== 'string' || !LOG_LEVELS.includes(logLevel)) {
    invalid(`logLevel (MEGAPHONE_LOG_LEVEL) must be one of ${LOG_LEVELS.join(', ')}`)
  }

  const trustProxy = boolean('http.trustProxy (MEGAPHONE_HTTP_TRUST_PROXY)', env.MEGAPHONE_HTTP_TRUST_PROXY ?? fileHttp.trustProxy, false)
  const tlsCertFile = readablePath('http.tlsCertFile (MEGAPHONE_HTTP_TLS_CERT_FILE)', env.MEGAPHONE_HTTP_TLS_CERT_FILE ?? fileHttp.tlsCertFile)
  const tlsKeyFile = readablePath('http.tlsKeyFile (MEGAPHONE_HTTP_TLS_KEY_FILE)', env.MEGAPHONE_HTTP_TLS_KEY_FILE ?? fileHttp.tlsKeyFile)
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) invalid('http.tlsCertFile and http.tlsKeyFile (MEGAPHONE_HTTP_TLS_CERT_FILE, MEGAPHONE_HTTP_TLS_KEY_FILE) go together')
  const httpNumbers = numberTable('http', HTTP_NUMBERS, env, fileHttp)
  if (httpNumbers.requestBodySeconds < httpNumbers.requestHeadersSeconds) invalid('http.requestBodySeconds must not be shorter than http.requestHeadersSeconds')

  const fileBosh = isObject(file.bosh) ? file.bosh : {}
  const boshNumbers = numberTable('bosh', BOSH_NUMBERS, env, fileBosh)
  const path = env.MEGAPHONE_BOSH_PATH ?? fileBosh.path ?? '/http-bind'
  if (typeof path !== 'string' || !/^\/[\w\-./]*$/.test(path) || path === '/') invalid('bosh.path (MEGAPHONE_BOSH_PATH) must be a URL path such as /http-bind')
  const domains = list('bosh.domains (MEGAPHONE_BOSH_DOMAINS)', env.MEGAPHONE_BOSH_DOMAINS ?? fileBosh.domains ?? ['localhost'])
    .map((d) => d.toLowerCase())
  if (domains.length === 0 || domains.some((d) => !/^[a-z0-9.-]+$/.test(d))) invalid('bosh.domains (MEGAPHONE_BOSH_DOMAINS) must list XMPP domain names, e.g. localhost,example.com')
  const corsOrigins = list('bosh.corsOrigins (MEGAPHONE_CORS_ORIGINS)', env.MEGAPHONE_CORS_ORIGINS ?? fileBosh.corsOrigins ?? ['*'])
  if (corsOrigins.some((o) => o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o))) invalid('bosh.corsOrigins (MEGAPHONE_CORS_ORIGINS) must be * or origins such as https://chat.example.com')

  const strictRequests = boolean('bosh.strictRequests (MEGAPHONE_BOSH_STRICT_REQUESTS)', env.MEGAPHONE_BOSH_STRICT_REQUESTS ?? fileBosh.strictRequests, false)
  const boshSeeOtherRaw = env.MEGAPHONE_BOSH_SEE_OTHER_URI ?? fileBosh.seeOtherUri ?? null
  if (boshSeeOtherRaw !== null && boshSeeOtherRaw !== '' && (typeof boshSeeOtherRaw !== 'string' || !/^https?:\/\/[^\s'"<>&]+$/.test(boshSeeOtherRaw))) invalid('bosh.seeOtherUri (MEGAPHONE_BOSH_SEE_OTHER_URI) must be an http:// or https:// URI')
  const boshSeeOther = boshSeeOtherRaw === '' ? null : boshSeeOtherRaw as string | null
  const compressResponses = boolean('bosh.compressResponses (MEGAPHONE_BOSH_COMPRESS_RESPONSES)', env.MEGAPHONE_BOSH_COMPRESS_RESPONSES ?? fileBosh.compressResponses, true)

  const fileClient = isObject(file.client) ? file.client : {}
  const clientEnabled = boolean('client.enabled (MEGAPHONE_CLIENT_ENABLED)', env.MEGAPHONE_CLIENT_ENABLED ?? fileClient.enabled, true)
  const converse = boolean('client.converse (MEGAPHONE_CLIENT_CONVERSE)', env.MEGAPHONE_CLIENT_CONVERSE ?? fileClient.converse, true)

  const fileWs = isObject(file.websocket) ? file.websocket : {}
  const wsNumbers = numberTable('websocket', WEBSOCKET_NUMBERS, env, fileWs)
  const wsEnabled = boolean('websocket.enabled (MEGAPHONE_WEBSOCKET_ENABLED)', env.MEGAPHONE_WEBSOCKET_ENABLED ?? fileWs.enabled, true)
  const wsPath = env.MEGAPHONE_WEBSOCKET_PATH ?? fileWs.path ?? '/xmpp-websocket'
  if (typeof wsPath !== 'string' || !/^\/[\w\-./]*$/.test(wsPath) || wsPath === '/') invalid('websocket.path (MEGAPHONE_WEBSOCKET_PATH) must be a URL path such as /xmpp-websocket')
  if (wsEnabled && wsPath.replace(/\/+$/, '') === path.replace(/\/+$/, '')) invalid('websocket.path and bosh.path must differ')
  const perMessageDeflate = boolean('websocket.perMessageDeflate (MEGAPHONE_WEBSOCKET_PER_MESSAGE_DEFLATE)', env.MEGAPHONE_WEBSOCKET_PER_MESSAGE_DEFLATE ?? fileWs.perMessageDeflate, false)
  const seeOtherRaw = env.MEGAPHONE_WEBSOCKET_SEE_OTHER_URI ?? fileWs.seeOtherUri ?? null
  if (seeOtherRaw !== null && seeOtherRaw !== '' && (typeof seeOtherRaw !== 'string' || !/^wss?:\/\/[^\s'"<>&]+$/.test(seeOtherRaw))) invalid('websocket.seeOtherUri (MEGAPHONE_WEBSOCKET_SEE_OTHER_URI) must be a ws:// or wss:// URI')
  const seeOtherUri = seeOtherRaw === '' ? null : seeOtherRaw as string | null

  // Idle keep-alive connections are kept past the longest `wait`, so that a
  // BOSH client's second connection, idle while the first is held, is still there.
  const keepAliveRaw = env.MEGAPHONE_HTTP_KEEP_ALIVE_SECONDS ?? fileHttp.keepAliveSeconds
  const keepAliveSeconds = keepAliveRaw === undefined ? boshNumbers.maxWaitSeconds + 15 : integer('http.keepAliveSeconds (MEGAPHONE_HTTP_KEEP_ALIVE_SECONDS)', keepAliveRaw, 1, 3600)
  const limits = numberTable('limits', LIMITS_NUMBERS, env, isObject(file.limits) ? file.limits : {})

  const fileMemory = isObject(file.memory) ? file.memory : {}
  const idleCollect = boolean('memory.idleCollect (MEGAPHONE_MEMORY_IDLE_COLLECT)', env.MEGAPHONE_MEMORY_IDLE_COLLECT ?? fileMemory.idleCollect, true)

  const instanceRaw = env.MEGAPHONE_INSTANCE ?? file.instance ?? null
  if (instanceRaw !== null && instanceRaw !== '' && (typeof instanceRaw !== 'string' || !/^[a-z0-9]{1,16}$/.test(instanceRaw))) {
    invalid('instance (MEGAPHONE_INSTANCE) must be 1 to 16 lower-case letters and digits, e.g. h1w2')
  }
  const instance = instanceRaw === '' ? null : instanceRaw as string | null

  return deepFreeze({
    http: { host: httpHost, port: httpPort, trustProxy, drainSeconds, tlsCertFile, tlsKeyFile, ...httpNumbers, keepAliveSeconds },
    link: { host, secret, targets, prefer, tls: linkTls, ...numbers },
    bosh: { path, domains, corsOrigins, strictRequests, seeOtherUri: boshSeeOther, compressResponses, ...boshNumbers },
    websocket: { enabled: wsEnabled, path: wsPath, perMessageDeflate, seeOtherUri, ...wsNumbers },
    client: { enabled: clientEnabled, converse },
    memory: { idleCollect },
    limits,
    instance,
    logLevel
  })
}

type NumberSpec = Readonly<Record<string, { env: string, default: number, min: number, max: number }>>

function numberTable<T extends NumberSpec> (section: string, table: T, env: Env, file: Record<string, unknown>): Record<keyof T, number> {
  return Object.fromEntries(Object.entries(table).map(([key, spec]) => {
    const raw = env[spec.env] ?? file[key]
    return [key, raw === undefined ? spec.default : integer(`${section}.${key} (${spec.env})`, raw, spec.min, spec.max)]
  })) as Record<keyof T, number>
}

/** `host:port` or `[v6]:port` of one ejabberd node's megaphone_listener. */
function linkTarget (text: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535) invalid(`link.targets (MEGAPHONE_LINK_TARGETS): '${text}' is not host:port`)
  return { host: (m as RegExpExecArray)[1] ?? (m as RegExpExecArray)[2] as string, port }
}

function serverName (raw: unknown): string | null {
  if (raw === undefined || raw === '') return null
  if (typeof raw !== 'string' || !/^[A-Za-z0-9.-]+$/.test(raw)) invalid('link.tlsServerName (MEGAPHONE_LINK_TLS_SERVER_NAME) must be a host name, e.g. xmpp1.example.com')
  return raw
}

/** A list: a JSON array of strings, or a comma-separated string. */
function list (name: string, raw: unknown): string[] {
  if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) return raw.map((s) => s.trim())
  invalid(`${name} must be a comma-separated string or an array of strings`)
}

/** A file that exists and can be read now, or null when not configured. */
function readablePath (name: string, raw: unknown): string | null {
  if (raw === undefined || raw === '') return null
  if (typeof raw !== 'string') invalid(`${name} must be a file path`)
  try {
    accessSync(raw, constants.R_OK)
  } catch (err) {
    invalid(`${name}: cannot read ${raw}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  return raw
}

function boolean (name: string, raw: unknown, fallback: boolean): boolean {
  if (raw === undefined) return fallback
  if (raw === true || raw === 'true' || raw === '1') return true
  if (raw === false || raw === 'false' || raw === '0') return false
  invalid(`${name} must be true or false, got ${JSON.stringify(raw)}`)
}

function readConfigFile (path: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    invalid(`MEGAPHONE_CONFIG: cannot read ${path} as JSON: ${(err as Error).message}`)
  }
  if (!isObject(parsed)) invalid(`MEGAPHONE_CONFIG: ${path} must hold a JSON object`)
  return parsed
}

function integer (name: string, raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) invalid(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

function isObject (value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function invalid (message: string): never {
  throw new MegaphoneError(ErrorCode.CONFIG_INVALID, message)
}

function deepFreeze<T extends object> (obj: T): Readonly<T> {
  for (const value of Object.values(obj)) if (typeof value === 'object' && value !== null) deepFreeze(value)
  return Object.freeze(obj)
}
