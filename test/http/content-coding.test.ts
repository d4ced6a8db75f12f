// Choosing a response coding from Accept-Encoding, and naming a request's (RFC 9110 8.4, 12.5.3). Pure.
import t from 'tap'
import { negotiate, requestCoding } from '../../lib/http/content-coding.js'

t.test('negotiate: the server\'s first coding the header allows, identity when none (RFC 9110 12.5.3)', async (t) => {
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, null],
    ['', null],
    ['identity', null],
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['deflate, gzip', 'gzip'],
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip; q=0.001', 'gzip'],
    ['gzip;q=0.000', null],
    ['*', 'gzip'],
    ['*;q=0', null],
    ['*, gzip;q=0', 'deflate'],
    ['gzip;q=0, *', 'deflate'],
    ['X-GZIP', 'gzip'],
    ['gzip;q=abc', null],
    ['br, zstd', null],
    [' , ,gzip , ', 'gzip']
  ]
  for (const [header, want] of cases) t.equal(negotiate(header, ['gzip', 'deflate']), want, `Accept-Encoding: ${String(header)}`)
  t.equal(negotiate('gzip, br', ['br', 'gzip']), 'br', 'the server\'s order decides among allowed codings')
})

t.test('negotiate reads at most 64 members of a long header', async (t) => {
  t.equal(negotiate(`${'x, '.repeat(100)}gzip`, ['gzip']), null)
  t.equal(negotiate(`${'x, '.repeat(10)}gzip`, ['gzip']), 'gzip')
})

t.test('requestCoding: gzip and deflate, none or identity; stacked or other codings are unsupported (XEP-0124 7.2)', async (t) => {
  t.equal(requestCoding(undefined), null)
  t.equal(requestCoding(''), null)
  t.equal(requestCoding('identity'), null)
  t.equal(requestCoding('GZip'), 'gzip')
  t.equal(requestCoding('x-gzip'), 'gzip')
  t.equal(requestCoding(' deflate '), 'deflate')
  t.equal(requestCoding('identity, gzip'), 'gzip')
  for (const bad of ['br', 'zstd', 'compress', 'gzip, gzip', 'gzip, deflate', 'gzip;q=1']) t.equal(requestCoding(bad), 'unsupported', bad)
})
