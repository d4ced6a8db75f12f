// The entry that listens: reads the configuration, brings the link up, serves
// HTTP, and closes both gracefully on SIGINT or SIGTERM.
import { pino } from 'pino'
import { loadConfig } from './config.js'
import { buildApp } from './app.js'
import { Link } from './link/link.js'
import { MegaphoneError } from './errors.js'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof MegaphoneError)) throw err
  process.stderr.write(`megaphone: ${err.message}\n`)
  process.exit(1)
}

const logger = pino({ level: config.logLevel })
const link = new Link({ ...config.link, logger: logger.child({ component: 'link' }) })
const app = await buildApp({ link, config, loggerInstance: logger })

link.start()
try {
  await app.listen({ host: config.http.host, port: config.http.port })
} catch (err) {
  logger.fatal({ err, host: config.http.host, port: config.http.port }, 'cannot listen')
  await link.close()
  process.exit(1)
}

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    // HTTP first: held requests are answered system-shutdown and each session closes its stream; then the link.
    void app.close().then(async () => await link.close()).then(() => process.exit(0))
  })
}
