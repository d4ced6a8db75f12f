// Compressed request bodies: decoded within a limit on the decompressed size,
// which a zip bomb meets long before it is inflated (XEP-0124 7.2). Pure zlib, no HTTP.
import t from 'tap'
import { deflateRawSync, deflateSync, gzipSync, inflateSync, gunzipSync } from 'node:zlib'
import { decodeBody } from '../../lib/http/request-decoding.js'
import { compressResponse } from '../../lib/http/response-compression.js'
import { ErrorCode, HttpError } from '../../lib/errors.js'

const member = gzipSync(Buffer.alloc(16 << 20), { level: 9 })
const BODY = Buffer.from(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1'>${'<message/>'.repeat(100)}</body>`)

t.test('gzip, zlib deflate and raw deflate all decode to the body', async (t) => {
  t.ok((await decodeBody(gzipSync(BODY), 'gzip', 1 << 20)).equals(BODY), 'gzip')
  t.ok((await decodeBody(deflateSync(BODY), 'deflate', 1 << 20)).equals(BODY), 'deflate (zlib, RFC 1950)')
  t.ok((await decodeBody(deflateRawSync(BODY), 'deflate', 1 << 20)).equals(BODY), 'deflate sent raw (RFC 1951), as some clients do')
})

t.test('the limit is on the decompressed size: at it decodes, one byte over is 413', async (t) => {
  const max = 4096
  t.equal((await decodeBody(gzipSync(Buffer.alloc(max, 0x61)), 'gzip', max)).length, max)
  await t.rejects(decodeBody(gzipSync(Buffer.alloc(max + 1, 0x61)), 'gzip', max), { code: ErrorCode.HTTP_DECOMPRESSED_TOO_LARGE, statusCode: 413 })
  await t.rejects(decodeBody(deflateSync(Buffer.alloc(max + 1, 0x61)), 'deflate', max), { code: ErrorCode.HTTP_DECOMPRESSED_TOO_LARGE, statusCode: 413 })
})

t.test('a zip bomb of 1 GiB is refused at the limit, not inflated', async (t) => {
  // 64 gzip members of 16 MiB of zeros each (RFC 1952 2.2: a gzip file is a
  // series of members): about 1 MiB. Then a member whose data is corrupt: a
  // decoder that inflated it all would reach that and answer 400, not 413.
  const corrupt = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff])
  const bomb = Buffer.concat([...Array.from({ length: 64 }, () => member), corrupt])
  await t.rejects(decodeBody(Buffer.concat([member, corrupt]), 'gzip', 32 << 20), { code: ErrorCode.HTTP_CORRUPT_ENCODING, statusCode: 400 }, 'the trailing member is corrupt indeed')
  t.ok(bomb.length < 2 << 20, `the bomb is ${bomb.length} bytes`)
  const err = await decodeBody(bomb, 'gzip', 262_144).then(() => null, (e: unknown) => e)
  t.ok(err instanceof HttpError)
  t.match(err, { statusCode: 413, message: 'request body over 262144 bytes once decompressed' })
})

t.test('corrupt or truncated data is 400, naming the coding and nothing of the body', async (t) => {
  await t.rejects(decodeBody(Buffer.from('plain text'), 'gzip', 1 << 20), { code: ErrorCode.HTTP_CORRUPT_ENCODING, statusCode: 400, message: 'request body is not valid gzip data' })
  await t.rejects(decodeBody(gzipSync(BODY).subarray(0, 20), 'gzip', 1 << 20), { code: ErrorCode.HTTP_CORRUPT_ENCODING, statusCode: 400 })
  await t.rejects(decodeBody(Buffer.from([0xff, 0xff, 0xff]), 'deflate', 1 << 20), { statusCode: 400, message: 'request body is not valid deflate data' })
})

t.test('response compression round-trips, UTF-8 included', async (t) => {
  const xml = `<body xmlns='http://jabber.org/protocol/httpbind'><message><body>${'Grüße, 世界 '.repeat(100)}</body></message></body>`
  t.equal(gunzipSync(compressResponse(xml, 'gzip')).toString('utf8'), xml)
  t.equal(inflateSync(compressResponse(xml, 'deflate')).toString('utf8'), xml, 'deflate is the zlib format (RFC 9110 8.4.1.2)')
})
