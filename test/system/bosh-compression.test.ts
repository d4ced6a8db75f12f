// XEP-0124 5 and 7.2 through Megaphone to the real ejabberd, over real HTTP:
// responses compressed (gzip, deflate) for a client whose Accept-Encoding asks,
// from bosh.compressMinBytes up; requests with a Content-Encoding the creation
// response's `accept` names, decompressed within bosh.maxBodyBytes; a zip
// bomb, a corrupt body and an unknown coding refused with their HTTP status
// while the session goes on. Last, Chromium (a real client that always asks
// for compression) chats through the page over BOSH.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib'
import { BoshSession, type HttpAnswer } from '../../scripts/clients/bosh.js'
import { BoshClient, chat, checkBodiesAgainstSchema, parseBody, recordBody } from '../helpers/bosh-http.js'
import { registerUsers, testEjabberd } from '../helpers/ejabberd.js'
import { startMegaphone } from '../helpers/megaphone.js'
import { launchChromium } from '../helpers/chromium.js'

const ej = testEjabberd()
const PASSWORD = 'compress-pw'
const WAIT_MS = 15_000

interface Seen { encoding: string | undefined, wireBytes: number, bodyBytes: number, vary: string | undefined, contentLength: string | undefined }

/**
 * A BOSH client that sends Accept-Encoding (and, when asked, compresses its
 * requests), decodes what comes back and keeps, per response, the coding and
 * the sizes on the wire and decoded.
 */
class CompressingSession extends BoshSession {
  seen: Seen[] = []
  requestCoding: 'gzip' | 'deflate' | 'raw-deflate' | null = null

  constructor (url: string, acceptEncoding: string) {
    super(async (text) => await this.#post(url, text, acceptEncoding), { domain: ej.domain })
  }

  async #post (url: string, text: string, acceptEncoding: string): Promise<HttpAnswer> {
    const plain = Buffer.from(text)
    const coding = this.requestCoding
    const payload = coding === 'gzip' ? gzipSync(plain) : coding === 'deflate' ? deflateSync(plain) : coding === 'raw-deflate' ? deflateRawSync(plain) : plain
    const res = await request(url, {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'text/xml; charset=utf-8', 'accept-encoding': acceptEncoding, ...(coding === null ? {} : { 'content-encoding': coding === 'raw-deflate' ? 'deflate' : coding }) },
      signal: AbortSignal.timeout(30_000)
    })
    const wire = Buffer.from(await res.body.arrayBuffer())
    const encoding = res.headers['content-encoding'] as string | undefined
    const decoded = encoding === 'gzip' ? gunzipSync(wire) : encoding === 'deflate' ? inflateSync(wire) : wire
    this.seen.push({ encoding, wireBytes: wire.length, bodyBytes: decoded.length, vary: res.headers.vary as string | undefined, contentLength: res.headers['content-length'] as string | undefined })
    const answer = { status: res.statusCode, text: decoded.toString('utf8') }
    recordBody(answer.text)
    return answer
  }
}

async function pair (boshUrl: string, prefix: string, acceptEncoding = 'gzip, deflate'): Promise<{ alice: CompressingSession, bob: BoshClient, aliceJid: string, bobJid: string }> {
  const [a, b] = await registerUsers(prefix, 2, PASSWORD) as [string, string]
  const alice = new CompressingSession(boshUrl, acceptEncoding)
  await alice.login(a, PASSWORD, 'test')
  const bob = new BoshClient(boshUrl, { domain: ej.domain })
  await bob.login(b, PASSWORD)
  return { alice, bob, aliceJid: `${a}@${ej.domain}`, bobJid: `${b}@${ej.domain}` }
}

/**
 * Alice's next request held while Bob sends her `text`: the response that
 * carries it. Bob's request stays held (BOSH holds one request per session)
 * until his next: it goes to `outstanding`, for the test to await at the end.
 */
async function receive (alice: CompressingSession, bob: BoshSession, aliceJid: string, text: string, outstanding: Array<Promise<unknown>>): Promise<{ body: string, seen: Seen }> {
  const held = alice.request()
  outstanding.push(bob.request(chat(aliceJid, text)))
  const el = await held
  const seen = alice.seen.at(-1) as Seen
  return { body: el.toString(), seen }
}

/** XEP-0124 5: every response had a Content-Length that was its size on the wire (never chunked). */
function lengthsTrue (t: Test, seen: Seen[]): void {
  t.ok(seen.length > 0 && seen.every((s) => s.contentLength === String(s.wireBytes)), `Content-Length on all ${seen.length} responses, the bytes on the wire`)
}

t.test('7.2: the creation response names the codings Megaphone decompresses, accept=\'gzip deflate\'', async (t) => {
  const mp = await startMegaphone(t)
  const s = new CompressingSession(mp.boshUrl, 'gzip')
  const el = await s.create()
  t.equal(el.attrs.accept, 'gzip deflate')
  await s.terminate('')
})

t.test('5: with Accept-Encoding: gzip, a response from the threshold up is gzip; a small one and the empty ones go as they are', async (t) => {
  const mp = await startMegaphone(t)
  t.equal(mp.config.bosh.compressMinBytes, 1024, 'the default threshold')
  const { alice, bob, aliceJid } = await pair(mp.boshUrl, 'cz5g')
  const outstanding: Array<Promise<unknown>> = []
  const big = 'All the news that is fit to print. '.repeat(120)
  const large = await receive(alice, bob, aliceJid, big, outstanding)
  t.match(large.body, big.slice(0, 200), 'the message arrives whole')
  t.equal(large.seen.encoding, 'gzip')
  t.ok(large.seen.bodyBytes >= 1024)
  t.ok(large.seen.wireBytes < large.seen.bodyBytes / 4, `${large.seen.bodyBytes} bytes of XML went as ${large.seen.wireBytes}`)
  t.match(large.seen.vary, /Accept-Encoding/)

  const small = await receive(alice, bob, aliceJid, 'hi', outstanding)
  t.equal(small.seen.encoding, undefined, 'a body under the threshold is not compressed')
  t.match(small.seen.vary, /Accept-Encoding/, 'but says it could have been')
  await alice.terminate()
  t.ok(alice.seen.some((s) => s.bodyBytes < 100), 'small bodies were seen (the terminate\'s answer)')
  for (const s of alice.seen) t.equal(s.encoding, s.bodyBytes >= 1024 ? 'gzip' : undefined, `${s.bodyBytes} bytes: compressed exactly from the threshold up`)
  lengthsTrue(t, alice.seen)
  await Promise.all([bob.terminate(), ...outstanding])
})

t.test('5: deflate when that is all the client accepts; nothing without Accept-Encoding or with q=0', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_COMPRESS_MIN_BYTES: '0' } })
  for (const [accept, coding] of [['deflate', 'deflate'], ['gzip;q=0, deflate;q=0.5', 'deflate'], ['identity', undefined], ['br', undefined], ['gzip;q=0', undefined]] as const) {
    const s = new CompressingSession(mp.boshUrl, accept)
    await s.create()
    await s.terminate('')
    t.ok(s.seen.length === 2 && s.seen.every((seen) => seen.encoding === coding), `Accept-Encoding: ${accept} -> ${String(coding)}`)
    lengthsTrue(t, s.seen)
  }
  // undici's request sends no Accept-Encoding at all.
  const res = await request(mp.boshUrl, { method: 'POST', body: `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='${ej.domain}' wait='10' hold='1' ver='1.6' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>` })
  const text = await res.body.text()
  t.equal(res.headers['content-encoding'], undefined, 'no Accept-Encoding, no compression')
  recordBody(text)
})

t.test('bosh.compressResponses=false: never compressed, and no Vary on Accept-Encoding', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_BOSH_COMPRESS_RESPONSES: 'false', MEGAPHONE_BOSH_COMPRESS_MIN_BYTES: '0' } })
  const s = new CompressingSession(mp.boshUrl, 'gzip, deflate')
  await s.create()
  await s.terminate('')
  t.ok(s.seen.every((seen) => seen.encoding === undefined && !/Accept-Encoding/.test(seen.vary ?? '')))
})

t.test('7.2: requests compressed with gzip, deflate (zlib) and raw deflate reach ejabberd', async (t) => {
  const mp = await startMegaphone(t)
  const { alice, bob, bobJid } = await pair(mp.boshUrl, 'cz7r')
  bob.startPolling()
  // Each of Alice's requests is held until her next one: awaited at the end.
  const outstanding: Array<Promise<unknown>> = []
  for (const coding of ['gzip', 'deflate', 'raw-deflate'] as const) {
    alice.requestCoding = coding
    const text = `sent as ${coding}: ${'x'.repeat(2000)}`
    outstanding.push(alice.request(chat(bobJid, text)))
    await bob.until((el) => el.getChildText('body') === text, `bob gets the ${coding} message`, WAIT_MS)
    t.pass(`${coding} request delivered`)
  }
  alice.requestCoding = null
  await Promise.all([alice.terminate(), ...outstanding])
  bob.stopPolling()
  await bob.terminate()
})

t.test('17.1: a zip bomb gets 413 without being inflated; a corrupt body 400; an unknown coding 415; the session goes on', async (t) => {
  const mp = await startMegaphone(t)
  const { alice, bob, aliceJid, bobJid } = await pair(mp.boshUrl, 'cz17')
  const max = mp.config.bosh.maxBodyBytes
  // 64 MiB of one character: about 64 KiB of gzip, well under the limit on the wire.
  const bomb = gzipSync(Buffer.alloc(64 << 20, 0x20), { level: 9 })
  t.ok(bomb.length < max, `the bomb is ${bomb.length} bytes on the wire, under the ${max}-byte limit`)
  const post = async (payload: Buffer | string, headers: Record<string, string>): Promise<{ status: number, headers: Record<string, unknown>, text: string }> => {
    const res = await request(mp.boshUrl, { method: 'POST', body: payload, headers: { 'content-type': 'text/xml; charset=utf-8', ...headers }, signal: AbortSignal.timeout(30_000) })
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  }
  const bombed = await post(bomb, { 'content-encoding': 'gzip' })
  t.equal(bombed.status, 413)
  t.equal(bombed.text, `request body over ${max} bytes once decompressed\n`)

  // One byte over the limit once decompressed is refused; at the limit, it is read (and is no BOSH body: bad-request).
  t.equal((await post(gzipSync(Buffer.alloc(max + 1, 0x20)), { 'content-encoding': 'gzip' })).status, 413, 'limit + 1 decompressed')
  const atLimit = await post(gzipSync(Buffer.alloc(max, 0x20)), { 'content-encoding': 'gzip' })
  t.equal(atLimit.status, 200, 'at the limit: read')
  t.equal(parseBody({ status: atLimit.status, text: atLimit.text }).attrs.condition, 'bad-request')

  const corrupt = await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })
  t.equal(corrupt.status, 400)
  t.equal(corrupt.text, 'request body is not valid gzip data\n')

  for (const coding of ['br', 'zstd', 'gzip, gzip', 'compress']) {
    const res = await post('<body xmlns=\'http://jabber.org/protocol/httpbind\' rid=\'1\'/>', { 'content-encoding': coding })
    t.equal(res.status, 415, `Content-Encoding: ${coding}`)
    t.equal(res.headers['accept-encoding'], 'gzip, deflate', 'names the codings that would do (RFC 9110 15.5.16)')
    t.match(res.text, /^Content-Encoding not supported; send gzip or deflate, or none\n$/)
  }
  t.equal((await post(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='${ej.domain}' wait='10' hold='1' ver='1.6'/>`, { 'content-encoding': 'identity' })).status, 200, 'identity is no coding')

  // Nothing of that touched the sessions.
  const outstanding: Array<Promise<unknown>> = []
  const after = await receive(alice, bob, aliceJid, 'still here', outstanding)
  t.match(after.body, 'still here')
  // Bob's polling releases his request still held.
  bob.startPolling()
  outstanding.push(alice.request(chat(bobJid, 'me too')))
  await bob.until((el) => el.getChildText('body') === 'me too', 'bob gets alice\'s message', WAIT_MS)
  await Promise.all([alice.terminate(), ...outstanding])
  bob.stopPolling()
  await bob.terminate()
})

t.test('5: CORS lets a page on another origin send Content-Encoding', async (t) => {
  const mp = await startMegaphone(t, { env: { MEGAPHONE_CORS_ORIGINS: 'https://chat.example.com' } })
  const res = await request(mp.boshUrl, { method: 'OPTIONS', headers: { origin: 'https://chat.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, content-encoding' } })
  await res.body.dump()
  t.equal(res.statusCode, 204)
  t.match(res.headers['access-control-allow-headers'], /Content-Encoding/)
})

t.test('Chromium, which always asks for compression, chats through the page over BOSH and gets gzip', async (t) => {
  const mp = await startMegaphone(t)
  const [a, b] = await registerUsers('czcr', 2, PASSWORD) as [string, string]
  const browser = await launchChromium()
  t.teardown(async () => await browser.close())
  const page = await (await browser.newContext()).newPage()
  page.setDefaultTimeout(WAIT_MS)
  const encodings: Array<string | undefined> = []
  const accepts: string[] = []
  page.on('response', (res) => {
    if (res.request().method() === 'POST' && new URL(res.url()).pathname === '/http-bind') {
      encodings.push(res.headers()['content-encoding'])
      res.request().allHeaders().then((h) => { accepts.push(h['accept-encoding'] ?? '') }, () => {})
      res.text().then(recordBody, () => {})
    }
  })
  await page.goto(`${mp.baseUrl}/?service=/http-bind`)
  await page.fill('#jid', a)
  await page.fill('#password', PASSWORD)
  await page.click('#connect')
  await page.locator('#status[data-state="connected"]').waitFor()
  const bob = new BoshClient(mp.boshUrl, { domain: ej.domain })
  await bob.login(b, PASSWORD)
  const text = 'A long letter. '.repeat(200)
  await bob.request(chat(`${a}@${ej.domain}`, text))
  await page.locator('#log li[data-direction="in"]', { hasText: 'A long letter.' }).waitFor()
  t.ok(accepts.some((h) => /gzip/.test(h)), `Chromium asked for gzip (${accepts[0] ?? 'nothing'})`)
  t.ok(encodings.includes('gzip'), 'the message came gzip-compressed')
  t.ok(encodings.includes(undefined), 'the small responses did not')
  await bob.terminate()
})

checkBodiesAgainstSchema(t)
