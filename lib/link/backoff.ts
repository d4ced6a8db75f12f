// Reconnect delays: capped exponential backoff with jitter, so that many front
// ends that lost ejabberd together do not reconnect in step. Pure.

/**
 * Delay before reconnect attempt `attempt` (0 for the first): the base doubles
 * from `minDelayMs` per attempt up to `maxDelayMs`, and the result is drawn
 * uniformly from half the base to the full base.
 */
export function backoffDelayMs (attempt: number, minDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30))
  return Math.round(base / 2 + random() * base / 2)
}
