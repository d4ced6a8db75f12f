// The load benchmark's pure parts (scripts/bench/): tsung's configuration and
// logs, wrk's summary, /proc/<pid>/stat. The benchmark itself runs tiny in
// test/commands/bench-load.test.ts.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseProcStat, processTree } from '../../scripts/bench/proc-stat.js'
import { chatConfig, usersCsv } from '../../scripts/bench/tsung-config.js'
import { counterTotal, errorsByKind, fullstatsSamples, parseTsungLog, percentile, spanOf } from '../../scripts/bench/tsung-results.js'
import { parseWrk, wrkScript } from '../../scripts/bench/wrk.js'

// Lines as tsung 1.7 writes them (1 s intervals).
const TSUNG_LOG = `# stats: dump at 1796050309
stats: users 50 50
stats: users_count 50 50
stats: tr_login 50 30.8 24.3 129.2 9.3 0 0
stats: xmpp_msg_latency 8 8.5 1.7 11.1 5.7 0 0
# stats: dump at 1796050310
stats: users_count 0 50
stats: xmpp_msg_latency 371 19.8 30.8 266.1 1.2 8.5 8
stats: error_send_timeout 2 2
# stats: dump at 1796050311
stats: xmpp_msg_latency 0 0 0 266.1 1.2 19.6 379
stats: error_send_timeout 0 2
stats: error_inet_200 3 3
# stats: dump at 1796050312
stats: xmpp_msg_latency 5 2.0 0.1 2.1 1.9 19.6 379
`

t.test('tsung.log: intervals, counters, errors by kind, the span of a burst', async (t) => {
  const intervals = parseTsungLog(TSUNG_LOG)
  t.equal(intervals.length, 4)
  t.equal(intervals[1]?.at, 1796050310)
  t.same(intervals[1]?.samples.get('xmpp_msg_latency'), { count: 371, mean: 19.8, max: 266.1 })
  t.equal(counterTotal(intervals, 'error_send_timeout'), 2, 'the intervals\' counts, not their running totals, are summed')
  t.same(errorsByKind(intervals), [['error_inet_200', 3], ['error_send_timeout', 2]])
  t.same(spanOf(intervals, 'xmpp_msg_latency').map((i) => i.at), [1796050309, 1796050310, 1796050311, 1796050312], 'first to last interval with samples, gaps included')
  t.same(spanOf(intervals, 'nothing'), [])
})

t.test('tsung-fullstats.log: every sample, in lists or alone; nearest-rank percentiles', async (t) => {
  const text = `[{sample,request,[1.5,2.5]},
 {sample,xmpp_msg_latency,
        [11.413,7.817,
         17.705]}]
{sample,xmpp_msg_latency,2.0}
{sample,tr_login,61.285}`
  const values = fullstatsSamples(text, 'xmpp_msg_latency')
  t.same(values, [11.413, 7.817, 17.705, 2.0])
  const sorted = [...values].sort((a, b) => a - b)
  t.equal(percentile(sorted, 50), 7.817)
  t.equal(percentile(sorted, 99), 17.705)
  t.equal(percentile(sorted, 0), 2.0)
  t.ok(Number.isNaN(percentile([], 50)))
})

t.test('the tsung configuration is valid against tsung\'s DTD, with the plan\'s numbers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'megaphone-tsung-'))
  const xml = chatConfig({ host: '127.0.0.1', port: 5280, path: '/http-bind', domain: 'localhost' },
    { users: 100, arrivalPerSecond: 20, settleSeconds: 8, messages: 60, intervalSeconds: 0.5, drainSeconds: 10, usersFile: join(dir, 'users.csv') })
  t.match(xml, '<users maxnumber="100" arrivalrate="20" unit="second"/>')
  t.match(xml, '<for from="1" to="60" incr="1" var="i">')
  t.match(xml, '<thinktime value="0.500" random="false"/>')
  t.match(xml, 'stamped="true"')
  t.notMatch(chatConfig({ host: 'h', port: 1, path: '/', domain: 'd' }, { users: 1, arrivalPerSecond: 1, settleSeconds: 1, messages: 3, intervalSeconds: 0, drainSeconds: 1, usersFile: 'f' }), /thinktime value="0"/, 'a burst has no think time between messages')
  const file = join(dir, 'tsung.xml')
  writeFileSync(file, xml)
  const dtd = '/usr/share/tsung/tsung-1.0.dtd'
  try {
    execFileSync('xmllint', ['--noout', '--valid', file], { stdio: 'pipe' })
    t.pass(`valid against ${dtd}`)
  } catch (err) {
    t.fail(`xmllint --valid (needs tsung and libxml2-utils, which scripts/setup.sh installs): ${String((err as { stderr?: Buffer }).stderr ?? err)}`)
  }
  t.equal(usersCsv(['a', 'b'], 'pw'), 'a;pw\nb;pw\n')
})

t.test('wrk: the script posts a BOSH body; the summary gives requests/s and every kind of error', async (t) => {
  t.match(wrkScript(), 'wrk.method = "POST"')
  t.match(wrkScript(), "sid='bench-no-such-session'")
  const clean = `Running 2s test @ http://127.0.0.1:1/http-bind
  1 threads and 5 connections
  29523 requests in 2.00s, 7.63MB read
Requests/sec:  14761.20
Transfer/sec:      3.81MB
`
  t.same(parseWrk(clean), { requestsPerSecond: 14761.2, requests: 29523, errors: 0 })
  const bad = clean.replace('Requests/sec', '  Socket errors: connect 1, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 4\nRequests/sec')
  t.equal(parseWrk(bad).errors, 10)
  t.throws(() => parseWrk('unable to connect'), /no summary/)
})

t.test('/proc/<pid>/stat: CPU seconds and parent, a command name with spaces and parentheses; this process\'s tree', async (t) => {
  const line = '4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 100'
  t.same(parseProcStat(line), { pid: 4242, ppid: 1, cpuSeconds: 3 })
  t.throws(() => parseProcStat('garbage'))
  const tree = processTree(process.pid)
  t.equal(tree[0]?.pid, process.pid)
  t.ok((tree[0]?.cpuSeconds ?? -1) >= 0)
})
