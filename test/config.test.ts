import t from 'tap'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../lib/config.js'
import { ErrorCode } from '../lib/errors.js'

const SECRET = 'a-secret-of-sixteen+'

t.test('defaults apply when only the secret is given', async (t) => {
  const config = loadConfig({ MEGAPHONE_LINK_SECRET: SECRET })
  t.same(config.http, { host: '127.0.0.1', port: 5280, trustProxy: false, drainSeconds: 3, tlsCertFile: null, tlsKeyFile: null, requestHeadersSeconds: 20, requestBodySeconds: 60, keepAliveSeconds: 75 })
  t.same(config.limits, {
    maxConnections: 0,
    reservedFiles: 256,
    idleConnectionsPerAddress: 1024,
    maxSessionsPerAddress: 1000,
    sessionBurstPerAddress: 500,
    sessionsPerSecondPerAddress: 50,
    maxAddresses: 100000
  })
  t.equal(config.logLevel, 'info')
  t.same(config.link, {
    host: '127.0.0.1',
    port: 5899,
    targets: [{ host: '127.0.0.1', port: 5899 }],
    prefer: null,
    tls: null,
    secret: SECRET,
    maxFrameBytes: 1048576,
    heartbeatIntervalMs: 5000,
    heartbeatTimeoutMs: 15000,
    reconnectMinDelayMs: 100,
    reconnectMaxDelayMs: 10000
  })
  t.same(config.bosh, {
    path: '/http-bind',
    domains: ['localhost'],
    corsOrigins: ['*'],
    maxWaitSeconds: 60,
    maxHold: 1,
    inactivitySeconds: 60,
    maxPauseSeconds: 120,
    pollingSeconds: 2,
    maxBodyBytes: 262144,
    maxSessions: 1000000,
    ridSlack: 2,
    strictRequests: false,
    seeOtherUri: null,
    compressResponses: true,
    compressMinBytes: 1024
  })
  t.same(config.client, { enabled: true, converse: true })
  t.same(config.websocket, { enabled: true, path: '/xmpp-websocket', maxMessageBytes: 262_144, maxBufferedBytes: 1_048_576, pingIntervalSeconds: 30, perMessageDeflate: false, seeOtherUri: null })
  t.same(config.memory, { idleCollect: true })
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.link) && Object.isFrozen(config.bosh.domains), 'frozen')
})

t.test('BOSH lists come from comma-separated variables or JSON arrays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-config-'))
  const file = join(dir, 'megaphone.json')
  writeFileSync(file, JSON.stringify({ bosh: { domains: ['Example.COM'], corsOrigins: ['https://chat.example.com'] }, client: { enabled: false } }))
  const config = loadConfig({ MEGAPHONE_CONFIG: file, MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_TRUST_PROXY: 'true' })
  t.same(config.bosh.domains, ['example.com'], 'domains lower-cased')
  t.same(config.bosh.corsOrigins, ['https://chat.example.com'])
  t.equal(config.client.enabled, false)
  t.equal(config.http.trustProxy, true)
  t.same(loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_DOMAINS: 'a.example, b.example' }).bosh.domains, ['a.example', 'b.example'])
})

t.test('the rid slack and strict overactivity are set from the environment or the file, and checked', async (t) => {
  const config = loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_STRICT_REQUESTS: 'true', MEGAPHONE_BOSH_RID_SLACK: '0' })
  t.equal(config.bosh.strictRequests, true)
  t.equal(config.bosh.ridSlack, 0)
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_RID_SLACK: '17' }), /bosh\.ridSlack \(MEGAPHONE_BOSH_RID_SLACK\)/)
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_STRICT_REQUESTS: 'maybe' }), /bosh\.strictRequests/)
})

t.test('response compression and its threshold are set from the environment or the file, and checked (XEP-0124 5)', async (t) => {
  const config = loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_COMPRESS_RESPONSES: 'false', MEGAPHONE_BOSH_COMPRESS_MIN_BYTES: '0' })
  t.equal(config.bosh.compressResponses, false)
  t.equal(config.bosh.compressMinBytes, 0)
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-config-'))
  const file = join(dir, 'megaphone.json')
  writeFileSync(file, JSON.stringify({ bosh: { compressResponses: false, compressMinBytes: 4096 } }))
  t.same(loadConfig({ MEGAPHONE_CONFIG: file, MEGAPHONE_LINK_SECRET: SECRET }).bosh.compressMinBytes, 4096)
  t.equal(loadConfig({ MEGAPHONE_CONFIG: file, MEGAPHONE_LINK_SECRET: SECRET }).bosh.compressResponses, false)
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_COMPRESS_MIN_BYTES: '-1' }), /bosh\.compressMinBytes \(MEGAPHONE_BOSH_COMPRESS_MIN_BYTES\)/)
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_COMPRESS_RESPONSES: 'gzip' }), /bosh\.compressResponses/)
})

t.test('a JSON file supplies values and the environment overrides them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-config-'))
  const file = join(dir, 'megaphone.json')
  const secretFile = join(dir, 'secret')
  writeFileSync(secretFile, `${SECRET}\n`)
  writeFileSync(file, JSON.stringify({ link: { host: '127.0.0.2', port: 6000, secretFile } }))
  const config = loadConfig({ MEGAPHONE_CONFIG: file, MEGAPHONE_LINK_PORT: '7000' })
  t.equal(config.link.host, '127.0.0.2')
  t.equal(config.link.port, 7000, 'environment wins')
  t.equal(config.link.secret, SECRET, 'secret read from its file, trimmed')
})

const bad: Array<[string, Record<string, string>, RegExp]> = [
  ['a missing secret', {}, /secret.*required/],
  ['a short secret', { MEGAPHONE_LINK_SECRET: 'short' }, /at least 16/],
  ['a port out of range', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_LINK_PORT: '70000' }, /link\.port .*1 to 65535/],
  ['a non-numeric timeout', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_LINK_HEARTBEAT_TIMEOUT_MS: '15s' }, /heartbeatTimeoutMs/],
  ['an interval not under the timeout', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_LINK_HEARTBEAT_INTERVAL_MS: '20000' }, /shorter than/],
  ['an unreadable secret file', { MEGAPHONE_LINK_SECRET_FILE: '/nonexistent/secret' }, /cannot read \/nonexistent\/secret: ENOENT/],
  ['an unknown log level', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_LOG_LEVEL: 'loud' }, /logLevel/],
  ['an HTTP port out of range', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_PORT: '-1' }, /http\.port/],
  ['a BOSH path without a slash', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_PATH: 'http-bind' }, /bosh\.path/],
  ['a domain with a space', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_DOMAINS: 'a b' }, /bosh\.domains/],
  ['a CORS origin that is not one', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_CORS_ORIGINS: 'example.com' }, /corsOrigins/],
  ['a maximum wait of 0', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '0' }, /maxWaitSeconds/],
  ['a body limit under 1 KiB', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_BOSH_MAX_BODY_BYTES: '10' }, /maxBodyBytes/],
  ['a non-boolean trustProxy', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_TRUST_PROXY: 'yes' }, /trustProxy/],
  ['a TLS certificate without a key', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_TLS_CERT_FILE: '/etc/hostname' }, /go together/],
  ['an unreadable TLS key', { MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_TLS_CERT_FILE: '/etc/hostname', MEGAPHONE_HTTP_TLS_KEY_FILE: '/nonexistent/key.pem' }, /tlsKeyFile .*cannot read \/nonexistent\/key.pem: ENOENT/],
  ['an unreadable config file', { MEGAPHONE_CONFIG: '/nonexistent/megaphone.json' }, /MEGAPHONE_CONFIG/]
]

for (const [what, env, message] of bad) {
  t.test(`${what} is refused with a message naming the option`, async (t) => {
    t.throws(() => loadConfig(env), { code: ErrorCode.CONFIG_INVALID, message })
  })
}

t.test('websocket options: bad values are refused with the option\'s name', async (t) => {
  const env = { MEGAPHONE_LINK_SECRET: SECRET }
  t.throws(() => loadConfig({ ...env, MEGAPHONE_WEBSOCKET_PATH: 'no-slash' }), /websocket\.path/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_WEBSOCKET_PATH: '/http-bind' }), /websocket\.path and bosh\.path must differ/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_WEBSOCKET_SEE_OTHER_URI: 'http://x.example/' }), /seeOtherUri/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_WEBSOCKET_MAX_MESSAGE_BYTES: '10' }), /maxMessageBytes/)
  t.equal(loadConfig({ ...env, MEGAPHONE_WEBSOCKET_SEE_OTHER_URI: 'wss://other.example/xmpp-websocket' }).websocket.seeOtherUri, 'wss://other.example/xmpp-websocket')
  t.equal(loadConfig({ ...env, MEGAPHONE_WEBSOCKET_SEE_OTHER_URI: '' }).websocket.seeOtherUri, null, 'empty: none')
  t.equal(loadConfig({ ...env, MEGAPHONE_WEBSOCKET_ENABLED: 'false', MEGAPHONE_WEBSOCKET_PATH: '/http-bind' }).websocket.enabled, false, 'the same path is fine when WebSocket is off')
})

t.test('instance: a short tag of lower-case letters and digits, or none', async (t) => {
  const env = { MEGAPHONE_LINK_SECRET: SECRET }
  t.equal(loadConfig(env).instance, null)
  t.equal(loadConfig({ ...env, MEGAPHONE_INSTANCE: 'h1w2' }).instance, 'h1w2')
  t.throws(() => loadConfig({ ...env, MEGAPHONE_INSTANCE: 'H1-w2' }), /instance \(MEGAPHONE_INSTANCE\)/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_INSTANCE: 'a'.repeat(17) }), /instance/)
})

t.test('link targets: host:port list, IPv6 in brackets; one target from link.host and link.port by default', async (t) => {
  const env = { MEGAPHONE_LINK_SECRET: SECRET }
  t.same(loadConfig(env).link.targets, [{ host: '127.0.0.1', port: 5899 }])
  t.same(loadConfig({ ...env, MEGAPHONE_LINK_HOST: 'ej1', MEGAPHONE_LINK_PORT: '7000' }).link.targets, [{ host: 'ej1', port: 7000 }])
  t.same(loadConfig({ ...env, MEGAPHONE_LINK_TARGETS: 'ej1.example:5899, [2001:db8::2]:5900' }).link.targets,
    [{ host: 'ej1.example', port: 5899 }, { host: '2001:db8::2', port: 5900 }])
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TARGETS: 'ej1.example' }), /'ej1\.example' is not host:port/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TARGETS: 'ej1:99999' }), /not host:port/)
  t.same(loadConfig({ ...env, MEGAPHONE_LINK_TARGETS: 'ej1:5899,ej2:5899', MEGAPHONE_LINK_PREFER: 'ej2:5899' }).link.prefer, { host: 'ej2', port: 5899 })
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TARGETS: 'ej1:5899', MEGAPHONE_LINK_PREFER: 'ej3:5899' }), /link\.prefer .* must be one of link\.targets/)
})

t.test('link TLS: off by default; files must be readable; certificate and key go together; a server name is a host name', async (t) => {
  const env = { MEGAPHONE_LINK_SECRET: SECRET }
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-link-tls-'))
  const pem = join(dir, 'ca.pem')
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n')
  t.equal(loadConfig(env).link.tls, null)
  t.same(loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'true' }).link.tls, { caFile: null, serverName: null, certFile: null, keyFile: null }, 'on, with Node\'s public roots')
  t.same(loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'true', MEGAPHONE_LINK_TLS_CA_FILE: pem, MEGAPHONE_LINK_TLS_SERVER_NAME: 'xmpp1.example.com' }).link.tls,
    { caFile: pem, serverName: 'xmpp1.example.com', certFile: null, keyFile: null })
  t.equal(loadConfig({ ...env, MEGAPHONE_LINK_TLS_CA_FILE: join(dir, 'missing.pem') }).link.tls, null, 'the TLS files are not read while TLS is off')
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'yes' }), /link\.tls \(MEGAPHONE_LINK_TLS\) must be true or false/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'true', MEGAPHONE_LINK_TLS_CA_FILE: join(dir, 'missing.pem') }), /link\.tlsCaFile .*cannot read .*ENOENT/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'true', MEGAPHONE_LINK_TLS_CERT_FILE: pem }), /link\.tlsCertFile and link\.tlsKeyFile .* go together/)
  t.throws(() => loadConfig({ ...env, MEGAPHONE_LINK_TLS: 'true', MEGAPHONE_LINK_TLS_SERVER_NAME: 'not a name' }), /link\.tlsServerName/)
})

t.test('the hostile-client bounds are set from the environment or the file, and checked', async (t) => {
  const config = loadConfig({
    MEGAPHONE_LINK_SECRET: SECRET,
    MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '30',
    MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS: '5',
    MEGAPHONE_LIMITS_SESSIONS_PER_SECOND_PER_ADDRESS: '0'
  })
  t.equal(config.http.requestHeadersSeconds, 5)
  t.equal(config.http.keepAliveSeconds, 45, 'keep-alive defaults to the longest wait + 15 s')
  t.equal(config.limits.sessionsPerSecondPerAddress, 0, '0 turns the rate limit off')
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_HTTP_REQUEST_HEADERS_SECONDS: '30', MEGAPHONE_HTTP_REQUEST_BODY_SECONDS: '10' }),
    { code: ErrorCode.CONFIG_INVALID, message: /requestBodySeconds must not be shorter/ })
  t.throws(() => loadConfig({ MEGAPHONE_LINK_SECRET: SECRET, MEGAPHONE_LIMITS_RESERVED_FILES: '3' }),
    { code: ErrorCode.CONFIG_INVALID, message: /limits\.reservedFiles \(MEGAPHONE_LIMITS_RESERVED_FILES\) must be an integer from 16/ })
})
