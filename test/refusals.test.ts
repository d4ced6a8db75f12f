import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Refusals } from '../lib/refusals.js'
import { FakeClock } from './helpers/fake-clock.js'

t.test('a flood of refusals is counted in full and logged as one line per window', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const log = pino(new Writable({
    write (chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    }
  }))
  const clock = new FakeClock()
  const refusals = new Refusals(log, clock)
  for (let i = 0; i < 2_000; i++) refusals.count('request-headers-timeout', { ip: '192.0.2.1' })
  refusals.count('session-rate')
  t.equal(lines.length, 2, 'the first of each kind at once')
  clock.advance(10_000)
  t.equal(lines.length, 3, 'then one summary line for the rest')
  t.match(lines[2], { refusal: 'request-headers-timeout', count: 1_999 })
  clock.advance(60_000)
  t.equal(lines.length, 3, 'quiet windows log nothing')
  const totals = new Map(refusals.totals)
  t.equal(totals.get('request-headers-timeout'), 2_000)
  t.equal(totals.get('session-rate'), 1)
  t.equal(totals.get('max-connections'), 0, 'every kind present')
  t.equal(clock.pending, 0, 'no timer left')
})
