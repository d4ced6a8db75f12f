// TLS on the link (docs/link-protocol.md, "TLS"): the connect options each
// link passes to tls.connect, read once at start from link.tls's files.
// Verification is Node's: the listener's chain must lead to one of the
// authorities (caFile, else Node's bundled roots) and its certificate must
// name the target (serverName, else the host or IP address connected to).
import { readFileSync } from 'node:fs'
import type { LinkTlsConfig } from '../config.js'

export interface LinkTlsOptions {
  ca?: Buffer
  servername?: string
  cert?: Buffer
  key?: Buffer
}

export function linkTlsOptions (config: LinkTlsConfig): LinkTlsOptions {
  const options: LinkTlsOptions = {}
  if (config.caFile !== null) options.ca = readFileSync(config.caFile)
  if (config.serverName !== null) options.servername = config.serverName
  if (config.certFile !== null && config.keyFile !== null) {
    options.cert = readFileSync(config.certFile)
    options.key = readFileSync(config.keyFile)
  }
  return options
}
