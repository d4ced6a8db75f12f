import t from 'tap'
import { IDLE_CHECK_MS, MIN_GROWTH_BYTES, QUIET_CHECKS, shouldCollect, startIdleCollector, startProcessIdleCollector } from '../lib/idle-collector.js'
import { FakeClock } from './helpers/fake-clock.js'

const MiB = 1 << 20

t.test('collects only when the process has been quiet and the heap grew past both thresholds', async (t) => {
  t.ok(shouldCollect(QUIET_CHECKS, 30 * MiB, 20 * MiB), 'quiet, grew 10 MiB past 20')
  t.notOk(shouldCollect(QUIET_CHECKS - 1, 300 * MiB, 20 * MiB), 'not quiet long enough: never, however much it grew')
  t.notOk(shouldCollect(QUIET_CHECKS, 20 * MiB + MIN_GROWTH_BYTES, 20 * MiB), 'growth not above the minimum')
  t.notOk(shouldCollect(QUIET_CHECKS, 210 * MiB, 200 * MiB), 'a large heap must grow by a tenth (20 MiB here), not 10 MiB')
  t.ok(shouldCollect(QUIET_CHECKS, 221 * MiB, 200 * MiB), 'a large heap that grew by more than a tenth')
})

t.test('the collector checks once a second, collects, and takes the heap after it as the new baseline', async (t) => {
  const clock = new FakeClock()
  let heap = 20 * MiB
  let busy = 0.5
  let gcs = 0
  const logged: unknown[] = []
  const collector = startIdleCollector({
    gc: () => { gcs++; heap = 25 * MiB },
    utilization: () => busy,
    heapUsed: () => heap,
    clock,
    log: { debug: (obj: unknown) => { logged.push(obj) } }
  })
  heap = 60 * MiB
  clock.advance(IDLE_CHECK_MS * 5)
  t.equal(gcs, 0, 'no collection while the loop is busy')
  busy = 0.01
  clock.advance(IDLE_CHECK_MS * (QUIET_CHECKS - 1))
  t.equal(gcs, 0, 'not yet: idle for less than the quiet period')
  busy = 0.5
  clock.advance(IDLE_CHECK_MS)
  busy = 0.01
  clock.advance(IDLE_CHECK_MS * (QUIET_CHECKS - 1))
  t.equal(gcs, 0, 'a busy second starts the quiet period again')
  clock.advance(IDLE_CHECK_MS)
  t.equal(gcs, 1, 'collected once quiet for the whole period')
  t.equal(collector.collections, 1)
  t.match(logged[0], { heapBeforeBytes: 60 * MiB, heapAfterBytes: 25 * MiB })
  heap = 30 * MiB
  clock.advance(IDLE_CHECK_MS * 3)
  t.equal(gcs, 1, '5 MiB past the new baseline is not enough')
  heap = 12 * MiB // V8 collected by itself: the baseline follows it down
  clock.advance(IDLE_CHECK_MS)
  heap = 21 * MiB
  clock.advance(IDLE_CHECK_MS)
  t.equal(gcs, 2, '9 MiB past the lower baseline is')
  collector.stop()
  t.equal(clock.pending, 0, 'stop clears its timer')
  heap = 100 * MiB
  clock.advance(IDLE_CHECK_MS * 10)
  t.equal(gcs, 2, 'nothing after stop')
})

t.test('this process can collect on demand without a command-line flag', async (t) => {
  const collector = startProcessIdleCollector()
  t.not(collector, null, 'gc obtained through V8 flags set at run time')
  collector?.stop()
})
