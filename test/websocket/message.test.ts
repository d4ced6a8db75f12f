import t from 'tap'
import { serverFrameKind } from '../../lib/websocket/message.js'

t.test('frames from ejabberd: its header, its close, and everything else', async (t) => {
  const kind = (xml: string): string => serverFrameKind(Buffer.from(xml))
  t.equal(kind("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='1' version='1.0'/>"), 'open')
  t.equal(kind("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), 'close')
  t.equal(kind('<close/>'), 'close')
  t.equal(kind("<message xmlns='jabber:client'/>"), 'other')
  t.equal(kind('<opener/>'), 'other', 'a name that starts like open is not open')
  t.equal(kind('<closed/>'), 'other')
  t.equal(kind(''), 'other')
})
