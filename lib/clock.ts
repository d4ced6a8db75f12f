// Time behind a small interface, so that everything that waits (BOSH
// sessions, the link's heartbeat, handshake timeout and reconnect backoff)
// can be driven by a fake clock in unit tests (test/helpers/fake-clock.ts).

/** Opaque handle; a Node Timeout for the system clock. */
export type Timer = object

export interface Clock {
  now (): number
  setTimeout (fn: () => void, ms: number): Timer
  clearTimeout (timer: Timer): void
}

/** Real time. Timers are unref'd: held requests and heartbeats never keep a closing process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>)
}
