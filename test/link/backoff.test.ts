import t from 'tap'
import { backoffDelayMs } from '../../lib/link/backoff.js'

t.test('reconnect delays double from the minimum and stop at the cap', async (t) => {
  const full = (): number => 1
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(n, 100, 10_000, full)),
    [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000])
  t.equal(backoffDelayMs(1_000, 100, 10_000, full), 10_000, 'a huge attempt count stays finite and capped')
})

t.test('jitter draws each delay from half to all of its base', async (t) => {
  t.equal(backoffDelayMs(3, 100, 10_000, () => 0), 400)
  t.equal(backoffDelayMs(3, 100, 10_000, () => 0.5), 600)
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(4, 100, 10_000)
    if (d < 800 || d > 1600) t.fail(`delay ${d} outside [800, 1600]`)
  }
  t.pass('100 random delays within bounds')
})
