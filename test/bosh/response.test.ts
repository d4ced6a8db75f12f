import t from 'tap'
import { EMPTY_BODY, formatBody, legacyStatus, terminateBody } from '../../lib/bosh/response.js'

t.test('XEP-0124 17.1: the three conditions with an HTTP code of their own, and nothing else', async (t) => {
  t.equal(legacyStatus(terminateBody('bad-request')), 400)
  t.equal(legacyStatus(terminateBody('policy-violation')), 403)
  t.equal(legacyStatus(terminateBody('item-not-found')), 404)
  t.equal(legacyStatus(terminateBody('item-not-found', '<message xmlns=\'jabber:client\'/>')), 404, 'with payload too: the session is over either way')
  for (const condition of ['host-unknown', 'remote-stream-error', 'system-shutdown', 'remote-connection-failed', 'see-other-uri'] as const) {
    t.equal(legacyStatus(terminateBody(condition)), null, `${condition} stays a terminate body`)
  }
  t.equal(legacyStatus(terminateBody(null)), null, 'a normal end')
  t.equal(legacyStatus(EMPTY_BODY), null)
  t.equal(legacyStatus(formatBody([['condition', 'item-not-found']])), null, 'a condition without type=terminate is not terminal')
  t.equal(legacyStatus(formatBody([], "<message xmlns='jabber:client'><body>type='terminate' condition='item-not-found'</body></message>")), null, 'text inside a payload is never read as the body\'s attributes')
})
