// What compressing BOSH responses costs and saves: Megaphone's own
// compressResponse (lib/http/response-compression.ts) and zlib at levels 1
// and 6 on response bodies shaped like real traffic (a chat message, a roster,
// a MAM page, a large batch), CPU time per response from process.cpuUsage
// over a bounded loop; and what compressing the chat page's static files
// once at start costs (lib/http/precompressed.ts).
//
//   npm run build && node dist/scripts/bench/bosh-compress.js [--ms 300]
//
// For a whole-process check from outside, one body size and coding in a loop:
//
//   farm-bench -n 5 -- node dist/scripts/bench/bosh-compress.js --loop gzip --bytes 4096 --count 20000 \
//     --vs 'node dist/scripts/bench/bosh-compress.js --loop none --bytes 4096 --count 20000'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { compressResponse, RESPONSE_LEVEL } from '../../lib/http/response-compression.js'
import { precompress } from '../../lib/http/precompressed.js'
import { commandLine, markdownTable } from './harness.js'
import { positiveInt } from './options.js'

const HELP = `Usage: node dist/scripts/bench/bosh-compress.js [--ms MS] | --loop gzip|deflate|none --bytes N --count N

  --ms MS       time spent measuring each cell, at most (default 300, max 10000)
  --loop C      compress one body of --bytes bytes --count times with C, print nothing (for farm-bench)
`
const { values: args } = parseArgs({
  options: {
    ms: { type: 'string', default: '300' },
    loop: { type: 'string' },
    bytes: { type: 'string', default: '4096' },
    count: { type: 'string', default: '20000' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (args.help === true) {
  process.stdout.write(HELP)
  process.exit(0)
}

const NS = "xmlns='jabber:client'"
// Message text is words drawn at random (a fixed seed), so that it compresses like text, not like a repeated line.
const WORDS = ('the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what ' +
  'all were we when your can said there use an each which she do how their if will up other about out many then them these so some her ' +
  'would make like him into time has look two more write go see number no way could people my than first water been call who oil its now ' +
  'lunch tomorrow slides meeting train late coffee release review deploy server weekend photo').split(' ')
let seed = 12345
function word (): string {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return WORDS[seed % WORDS.length] as string
}
function sentence (n: number): string {
  return Array.from({ length: n }, word).join(' ')
}
function message (i: number): string {
  return `<message ${NS} from='friend${i % 7}@example.com/phone' to='alice@example.com/web' type='chat' id='${(i * 2654435761 % 4294967296).toString(16)}-${1000 + i}'>` +
    `<body>${sentence(8 + (i % 20))}</body>` +
    "<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>" +
    `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.com' id='Yq${i}7fH2kLx'/></message>`
}
function mamPage (n: number): string {
  let out = ''
  for (let i = 0; i < n; i++) {
    out += `<message ${NS} to='alice@example.com/web'><result xmlns='urn:xmpp:mam:2' queryid='q1' id='Zx${i}9'>` +
      `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-30T10:${String(i % 60).padStart(2, '0')}:00Z'/>` +
      message(i) + '</forwarded></result></message>'
  }
  return out
}
function roster (n: number): string {
  let items = ''
  for (let i = 0; i < n; i++) items += `<item jid='contact${i}@example.com' name='Contact Number ${i}' subscription='both'><group>Friends</group></item>`
  return `<iq ${NS} type='result' id='roster_1' to='alice@example.com/web'><query xmlns='jabber:iq:roster' ver='ver${n}'>${items}</query></iq>`
}
const wrap = (payload: string): string => `<body xmlns='http://jabber.org/protocol/httpbind'>${payload}</body>`

const BODIES: Array<[string, string]> = [
  ['one chat message', wrap(message(1))],
  ['roster of 20', wrap(roster(20))],
  ['MAM page of 10', wrap(mamPage(10))],
  ['roster of 200', wrap(roster(200))],
  ['batch of 100 messages', wrap(mamPage(100))]
]

/** CPU microseconds per call of `fn`, over at most `ms` of CPU (and at least 20 calls). */
function cpuMicros (fn: () => void, ms: number): number {
  for (let i = 0; i < 20; i++) fn()
  const start = process.cpuUsage()
  let calls = 0
  let used = 0
  while (used < ms * 1000 || calls < 20) {
    for (let i = 0; i < 10; i++) fn()
    calls += 10
    const d = process.cpuUsage(start)
    used = d.user + d.system
  }
  return used / calls
}

if (args.loop !== undefined) {
  const coding = args.loop
  if (coding !== 'gzip' && coding !== 'deflate' && coding !== 'none') throw new Error('--loop: gzip, deflate or none')
  const bytes = positiveInt('bytes', args.bytes, 16 << 20)
  const count = positiveInt('count', args.count, 10_000_000)
  let xml = wrap(mamPage(Math.ceil(bytes / 500)))
  xml = xml.slice(0, bytes)
  let sink = 0
  for (let i = 0; i < count; i++) sink += coding === 'none' ? Buffer.from(xml, 'utf8').length : compressResponse(xml, coding).length
  if (sink < 0) process.stdout.write('unreachable\n')
} else {
  const ms = positiveInt('ms', args.ms, 10_000)
  // Warm-up: every function, once over, so that the first cell measured pays no JIT or first allocation.
  for (const [, xml] of BODIES) cpuMicros(() => { compressResponse(xml, 'gzip'); compressResponse(xml, 'deflate'); gzipSync(Buffer.from(xml), { level: 6 }) }, 50)
  // Megaphone's level (RESPONSE_LEVEL) beside zlib's default 6; 'copy' is what an uncompressed response costs to encode.
  const rows = [['body', 'bytes', `gzip -${RESPONSE_LEVEL} bytes`, 'gzip -6 bytes', 'copy µs', `gzip -${RESPONSE_LEVEL} µs`, `deflate -${RESPONSE_LEVEL} µs`, 'gzip -6 µs']]
  for (const [name, xml] of BODIES) {
    const bytes = Buffer.byteLength(xml)
    rows.push([
      name,
      String(bytes),
      String(compressResponse(xml, 'gzip').length),
      String(gzipSync(Buffer.from(xml), { level: 6 }).length),
      cpuMicros(() => Buffer.from(xml, 'utf8'), ms).toFixed(1),
      cpuMicros(() => compressResponse(xml, 'gzip'), ms).toFixed(1),
      cpuMicros(() => compressResponse(xml, 'deflate'), ms).toFixed(1),
      cpuMicros(() => gzipSync(Buffer.from(xml), { level: 6 }), ms).toFixed(1)
    ])
  }
  process.stdout.write(`BOSH response compression, CPU per response (process.cpuUsage), Node ${process.version}\n\n`)
  process.stdout.write(markdownTable(rows, 1).join('\n') + '\n\n')

  // The chat page's files, compressed once at start (brotli 11 and gzip 9, on the thread pool).
  const dist = join(dirname(createRequire(import.meta.url).resolve('strophe.js/package.json')), 'dist')
  // As routes/client.ts does: the maps, which only developer tools fetch, with the fast effort.
  const files = ['strophe.umd.min.js', 'strophe.esm.js', 'strophe.umd.min.js.map', 'strophe.esm.js.map']
  const staticRows = [['file', 'raw', 'gzip', 'brotli']]
  const before = process.cpuUsage()
  const startedAt = process.hrtime.bigint()
  const done = await Promise.all(files.map(async (f) => await precompress(readFileSync(join(dist, f)), f.endsWith('.map') ? 'fast' : 'max')))
  const wallMs = Number(process.hrtime.bigint() - startedAt) / 1e6
  const cpu = process.cpuUsage(before)
  files.forEach((f, i) => {
    const p = done[i]!
    staticRows.push([f.endsWith('.map') ? `${f} (fast: brotli 5, gzip 6)` : `${f} (max: brotli 11, gzip 9)`, String(p.identity.body.length), String(p.encoded.get('gzip')?.body.length ?? '—'), String(p.encoded.get('br')?.body.length ?? '—')])
  })
  process.stdout.write(markdownTable(staticRows, 1).join('\n') + '\n\n')
  // Thread-pool work is this process's CPU too: cpuUsage counts every thread.
  process.stdout.write(`precompressing these ${files.length} files at start: ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms of CPU, ${wallMs.toFixed(0)} ms of wall time\n\n`)
  process.stdout.write(`command: ${commandLine()}\n`)
}
