// A clock for unit tests: time moves only when the test calls advance().
import type { Clock, Timer } from '../../lib/clock.js'

interface FakeTimer { at: number, seq: number, fn: () => void }

export class FakeClock implements Clock {
  #now = 1_000_000
  #seq = 0
  #timers = new Set<FakeTimer>()

  now (): number { return this.#now }

  setTimeout (fn: () => void, ms: number): Timer {
    const timer: FakeTimer = { at: this.#now + ms, seq: this.#seq++, fn }
    this.#timers.add(timer)
    return timer
  }

  clearTimeout (timer: Timer): void { this.#timers.delete(timer as FakeTimer) }

  get pending (): number { return this.#timers.size }

  /** How far ahead each pending timer is due, soonest first. */
  get delays (): number[] {
    return [...this.#timers].map((t) => t.at - this.#now).sort((a, b) => a - b)
  }

  /** Runs every timer due within `ms`, in order, then sets the time. */
  advance (ms: number): void {
    const target = this.#now + ms
    for (let guard = 0; guard < 100_000; guard++) {
      let next: FakeTimer | null = null
      for (const t of this.#timers) if (t.at <= target && (next === null || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
      if (next === null) break
      this.#timers.delete(next)
      this.#now = next.at
      next.fn()
    }
    this.#now = target
  }
}
