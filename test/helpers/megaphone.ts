// Megaphone as the tests run it: started through app.ts's startMegaphone, as
// server.ts starts it, against the run's private ejabberd, listening on
// 127.0.0.1 port 0.
import type { Test } from 'tap'
import { startMegaphone as start, type App } from '../../app.js'
import { loadConfig, type Config } from '../../lib/config.js'
import type { LinkPool } from '../../lib/link/pool.js'
import type { Clock } from '../../lib/clock.js'
import { testEjabberd } from './ejabberd.js'
import { pino, type Logger } from 'pino'
import { Writable } from 'node:stream'

/** A pino logger whose lines are parsed into `lines`. */
function collectingLogger (lines: Array<Record<string, unknown>>): Logger {
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return pino({ level: 'info' }, sink)
}

/** The configuration lib/config.ts gives for these environment variables (no file), with a dummy secret. */
export function testConfig (env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({ MEGAPHONE_LINK_SECRET: 'test-secret-0123456789', MEGAPHONE_HTTP_PORT: '0', ...env })
}

export interface Megaphone {
  app: App
  link: LinkPool
  config: Readonly<Config>
  /** http://127.0.0.1:PORT */
  baseUrl: string
  /** baseUrl + the BOSH path */
  boshUrl: string
  /** ws://127.0.0.1:PORT + the WebSocket path */
  websocketUrl: string
  /** app.ts's drain and close (a rolling restart: drain, then close); close also runs when the test ends. */
  drain: (delayMs: number) => Promise<void>
  close: () => Promise<void>
}

export interface StartOptions {
  /** MEGAPHONE_* variables, e.g. { MEGAPHONE_BOSH_MAX_WAIT_SECONDS: '5' } */
  env?: Record<string, string>
  clock?: Clock
  /** Link port, e.g. a fault proxy's; defaults to the test ejabberd's listener. */
  linkPort?: number
  /** Log lines (pino JSON objects) go here; none by default. */
  logLines?: Array<Record<string, unknown>>
}

/** Starts Megaphone in this process against the run's ejabberd; stopped when `t` ends. */
export async function startMegaphone (t: Test, opts: StartOptions = {}): Promise<Megaphone> {
  const ej = testEjabberd()
  const config = testConfig({
    MEGAPHONE_LINK_PORT: String(opts.linkPort ?? ej.linkPort),
    MEGAPHONE_LINK_SECRET: ej.secret,
    MEGAPHONE_BOSH_DOMAINS: ej.domain,
    ...opts.env
  })
  const logger = opts.logLines === undefined ? undefined : collectingLogger(opts.logLines)
  const mp = await start({ config, logger, clock: opts.clock, linkReadyTimeoutMs: 10_000 })
  t.teardown(mp.close)
  return { app: mp.app, link: mp.link, config, baseUrl: mp.baseUrl, boshUrl: mp.baseUrl + config.bosh.path, websocketUrl: mp.baseUrl.replace(/^http/, 'ws') + config.websocket.path, drain: mp.drain, close: mp.close }
}
