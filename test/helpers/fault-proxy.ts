// A TCP proxy on loopback, for the failure paths healthy peers cannot be made
// to produce on demand: between Megaphone's link and the real ejabberd
// (garbage on the wire, a cut link, a link that goes silent, a reader that
// stalls), or between a browser and Megaphone (a network that drops).
import net from 'node:net'
import { once } from 'node:events'

interface Pair { client: net.Socket, server: net.Socket }

export class FaultProxy {
  readonly #targetHost: string
  readonly #targetPort: number
  readonly #server: net.Server
  #pairs = new Set<Pair>()
  /** Connections accepted so far: a reconnect shows up as a new one. */
  accepted = 0
  #blackhole = false
  #refusing = false

  private constructor (targetHost: string, targetPort: number) {
    this.#targetHost = targetHost
    this.#targetPort = targetPort
    this.#server = net.createServer((client) => this.#onConnection(client))
  }

  static async start (targetHost: string, targetPort: number): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetHost, targetPort)
    proxy.#server.listen(0, '127.0.0.1')
    await once(proxy.#server, 'listening')
    return proxy
  }

  get port (): number {
    return (this.#server.address() as net.AddressInfo).port
  }

  #onConnection (client: net.Socket): void {
    if (this.#refusing) {
      client.destroy()
      return
    }
    this.accepted++
    const server = net.connect(this.#targetPort, this.#targetHost)
    const pair = { client, server }
    this.#pairs.add(pair)
    client.on('data', (d) => { if (!this.#blackhole) server.write(d) })
    server.on('data', (d) => { if (!this.#blackhole) client.write(d) })
    const drop = (): void => {
      this.#pairs.delete(pair)
      client.destroy()
      server.destroy()
    }
    client.on('close', drop)
    server.on('close', drop)
    client.on('error', drop)
    server.on('error', drop)
  }

  /** Writes raw bytes to ejabberd as if Megaphone had sent them. */
  injectToServer (bytes: Buffer | string): void {
    for (const p of this.#pairs) p.server.write(bytes)
  }

  /** Writes raw bytes to Megaphone as if ejabberd had sent them. */
  injectToClient (bytes: Buffer | string): void {
    for (const p of this.#pairs) p.client.write(bytes)
  }

  /** Cuts every connection at once, both ways, like a crashed peer or a pulled cable. */
  cut (): void {
    for (const p of this.#pairs) {
      p.client.destroy()
      p.server.destroy()
    }
  }

  /** While on, every new connection is dropped at once: a network that is down. */
  setRefusing (on: boolean): void {
    this.#refusing = on
  }

  /** Drops everything in both directions while keeping the sockets open: a silent link. */
  setBlackhole (on: boolean): void {
    this.#blackhole = on
  }

  /** Stops reading from Megaphone, so its socket write buffer fills. */
  pauseClientReads (): void {
    for (const p of this.#pairs) p.client.pause()
  }

  resumeClientReads (): void {
    for (const p of this.#pairs) p.client.resume()
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
