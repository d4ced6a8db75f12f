import t from 'tap'
import { AddressLimits, addressKey } from '../lib/address-limits.js'
import { FakeClock } from './helpers/fake-clock.js'

const options = { maxSessionsPerAddress: 3, sessionBurstPerAddress: 5, sessionsPerSecondPerAddress: 1, maxAddresses: 100 }

t.test('the cap refuses a session past maxSessionsPerAddress until one from the address ends', async (t) => {
  const limits = new AddressLimits({ ...options, sessionsPerSecondPerAddress: 0, clock: new FakeClock() })
  for (let i = 0; i < 3; i++) t.equal(limits.open('192.0.2.1'), null)
  t.same(limits.open('192.0.2.1'), { refusal: 'sessions-per-address', retryAfterSeconds: null })
  t.equal(limits.open('192.0.2.2'), null, 'another address is not affected')
  limits.close('192.0.2.1')
  t.equal(limits.open('192.0.2.1'), null, 'a place came free')
  for (let i = 0; i < 3; i++) limits.close('192.0.2.1')
  limits.close('192.0.2.2')
  t.same(limits.sizes, { open: 0, buckets: 0 }, 'nothing kept for addresses with no session')
})

t.test('the token bucket allows a burst, then the sustained rate, and says when to retry', async (t) => {
  const clock = new FakeClock()
  const limits = new AddressLimits({ ...options, maxSessionsPerAddress: 0, clock })
  for (let i = 0; i < 5; i++) t.equal(limits.open('192.0.2.1'), null, `burst ${i + 1}`)
  t.same(limits.open('192.0.2.1'), { refusal: 'session-rate', retryAfterSeconds: 1 })
  clock.advance(1000)
  t.equal(limits.open('192.0.2.1'), null, 'one token a second')
  t.equal(limits.open('192.0.2.1')?.refusal, 'session-rate')
  t.equal(limits.open('192.0.2.9'), null, 'another address has its own bucket')
  clock.advance(5000)
  limits.open('192.0.2.7')
  t.equal(limits.sizes.buckets, 1, 'buckets that refilled are forgotten')
})

t.test('a flood from many addresses keeps the table under maxAddresses', async (t) => {
  const clock = new FakeClock()
  const limits = new AddressLimits({ ...options, maxSessionsPerAddress: 0, maxAddresses: 100, clock })
  let refused = 0
  for (let i = 0; i < 10_000; i++) if (limits.open(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) !== null) refused++
  t.equal(refused, 0, 'each new address gets its burst')
  t.equal(limits.sizes.buckets, 100)
  t.equal(limits.forgotten, 9_900)
})

t.test('both limits off: nothing is kept', async (t) => {
  const limits = new AddressLimits({ ...options, maxSessionsPerAddress: 0, sessionsPerSecondPerAddress: 0 })
  t.equal(limits.enabled, false)
  for (let i = 0; i < 100; i++) t.equal(limits.open('192.0.2.1'), null)
  t.same(limits.sizes, { open: 0, buckets: 0 })
})

t.test('addresses are limited by IPv4 address, IPv4-mapped address, or IPv6 /64', async (t) => {
  t.equal(addressKey('192.0.2.1'), '192.0.2.1')
  t.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(addressKey('2001:db8:0:1::5'), '2001:db8:0:1::/64')
  t.equal(addressKey('2001:0db8:0000:0001:abcd::1'), '2001:db8:0:1::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('not an address'), 'not an address')
  const limits = new AddressLimits({ ...options, sessionsPerSecondPerAddress: 0 })
  for (let i = 0; i < 3; i++) t.equal(limits.open(`2001:db8:0:1::${i + 1}`), null)
  t.equal(limits.open('2001:db8:0:1:ffff::9')?.refusal, 'sessions-per-address', 'one /64 is one subscriber')
})
