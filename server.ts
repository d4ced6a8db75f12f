// The entry that listens: reads the configuration, starts Megaphone (app.ts),
// and closes it gracefully: on SIGTERM (a rolling restart, an orchestrator)
// after draining for http.drainSeconds, on SIGINT (Ctrl-C) at once.
import { pino } from 'pino'
import { startMegaphone, type Megaphone } from './app.js'
import { loadConfig } from './lib/config.js'
import { MegaphoneError } from './lib/errors.js'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof MegaphoneError)) throw err
  process.stderr.write(`megaphone: ${err.message}\n`)
  process.exit(1)
}

const logger = pino({ level: config.logLevel })
let megaphone: Megaphone
try {
  megaphone = await startMegaphone({ config, logger })
} catch (err) {
  logger.fatal({ err, host: config.http.host, port: config.http.port }, 'cannot listen')
  process.exit(1)
}

/** A shutdown that has not finished by then is cut short. */
const SHUTDOWN_TIMEOUT_MS = 10_000

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down')
    const drainMs = signal === 'SIGTERM' ? config.http.drainSeconds * 1000 : 0
    setTimeout(() => process.exit(1), drainMs + SHUTDOWN_TIMEOUT_MS).unref()
    void (async () => {
      if (drainMs > 0) await megaphone.drain(drainMs)
      await megaphone.close()
      process.exit(0)
    })()
  })
}
