import t from 'tap'
import { connectionCap, openFiles, openFilesLimit, parseOpenFilesLimit } from '../lib/file-limit.js'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`

t.test('the soft open-file limit is read from /proc/<pid>/limits', async (t) => {
  t.equal(parseOpenFilesLimit(LIMITS), 20_000)
  t.equal(parseOpenFilesLimit(LIMITS.replace('20000                20000', '1024                 4096')), 1024, 'the soft limit, not the hard')
  t.equal(parseOpenFilesLimit(LIMITS.replace('20000                20000', 'unlimited            unlimited')), null)
  t.equal(parseOpenFilesLimit('garbage'), null)
  const own = openFilesLimit()
  if (process.platform === 'linux') {
    t.ok(own !== null && own > 0, `this process: ${String(own)}`)
    t.ok((openFiles() ?? 0) > 0, 'descriptors open now are counted')
  }
})

t.test('the connection cap is the limit less the reserve, unless configured', async (t) => {
  t.equal(connectionCap(0, 256, 20_000), 19_744)
  t.equal(connectionCap(5_000, 256, 20_000), 5_000, 'configured wins')
  t.equal(connectionCap(0, 256, null), null, 'no limit known: no cap')
  t.equal(connectionCap(0, 256, 100), 1, 'never below one')
})
