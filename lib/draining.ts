// Whether this process is draining: on its way out (SIGTERM), it takes no
// new session (/health answers 503, so the balancer stops sending new
// clients; a session creation or WebSocket upgrade that still arrives gets
// HTTP 503, which HAProxy retries on another process), while its sessions go
// on until it closes them.
export class Draining {
  #on = false

  get on (): boolean { return this.#on }

  start (): void { this.#on = true }
}
