// Request body parsing: what is accepted, and the bad-request for the rest
// (XEP-0124 6, 7.1, 14.1; DOCTYPE and entities refused, never expanded).
import t, { type Test } from 'tap'
import { parseRequestBody } from '../../lib/bosh/body.js'
import { formatBody, terminateBody } from '../../lib/bosh/response.js'
import { BoshError, type BoshCause } from '../../lib/errors.js'
import { parseElement } from '../../lib/xml.js'

const NS = "xmlns='http://jabber.org/protocol/httpbind'"

/** Refused with bad-request, for the one cause expected (its own error code), and a detail matching `detail`. */
function refused (t: Test, text: string, cause: BoshCause, name: string, detail = /./): void {
  let caught: unknown = null
  try { parseRequestBody(text) } catch (err) { caught = err }
  t.ok(caught instanceof BoshError && caught.condition === 'bad-request' && caught.kind === cause &&
    caught.code === `MEGAPHONE_ERR_BOSH_${cause}` && detail.test(caught.message), name, { caught: String(caught) })
}

t.test('a body with an XML declaration, prefixes and several payload elements (XEP-0124 6, XEP-0206)', async (t) => {
  const b = parseRequestBody(`<?xml version='1.0' encoding='utf-8'?>\n<body rid='42' ${NS} xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' xmlns:s='urn:x'><message xmlns='jabber:client' to='a@b'><body>&lt;&amp; é</body></message><s:thing/></body>`)
  t.equal(b.rid, 42)
  t.equal(b.attrs['xmpp:restart'], 'true')
  t.same(b.payload, ['<message xmlns="jabber:client" to="a@b"><body>&lt;&amp; é</body></message>', '<s:thing xmlns:s="urn:x"/>'],
    'each element serialized on its own, with the root prefixes it uses')
})

t.test('what gets bad-request', async (t) => {
  refused(t, `<body ${NS}><a></body>`, 'MALFORMED_XML', 'malformed XML')
  refused(t, `<body ${NS} rid='1'/><x/>`, 'MALFORMED_XML', 'content after the root')
  refused(t, `<iq ${NS} rid='1'/>`, 'NOT_BODY', 'a root other than body')
  refused(t, "<body xmlns='jabber:client' rid='1'/>", 'NOT_BODY', 'body in the wrong namespace')
  refused(t, `<body ${NS}/>`, 'BAD_RID', 'no rid', /missing/)
  refused(t, `<body ${NS} rid='0'/>`, 'BAD_RID', 'rid 0')
  refused(t, `<body ${NS} rid='9007199254740992'/>`, 'BAD_RID', 'rid of 2^53')
  refused(t, `<body ${NS} rid='12a'/>`, 'BAD_RID', 'rid not a number')
  refused(t, `<!DOCTYPE body [<!ENTITY big "xxxxxxxx">]><body ${NS} rid='1'>&big;</body>`, 'DOCTYPE', 'a DOCTYPE with an entity declaration is refused, not expanded')
  refused(t, `<body ${NS} rid='1'>&ext;</body>`, 'MALFORMED_XML', 'an undeclared entity')
  refused(t, '', 'MALFORMED_XML', 'empty')
  refused(t, `<body ${NS} rid='1' rid='2'/>`, 'MALFORMED_XML', 'duplicate attribute')
  refused(t, `<body ${NS} rid='1'>${'<a>'.repeat(101)}${'</a>'.repeat(101)}</body>`, 'MALFORMED_XML', 'nesting deeper than 100', /nested deeper than 100/)
  t.equal(parseRequestBody(`<body ${NS} rid='1'>${'<a>'.repeat(100)}${'</a>'.repeat(100)}</body>`).payload.length, 1, '100 levels are fine')
})

t.test('response bodies: attributes escaped, terminate with and without condition (XEP-0124 17.2)', async (t) => {
  t.equal(formatBody([['authid', "a'<b"]]), "<body xmlns='http://jabber.org/protocol/httpbind' authid='a&apos;&lt;b'/>")
  t.equal(terminateBody('item-not-found'), "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>")
  t.equal(terminateBody(null, '<x/>'), "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate'><x/></body>")
})

// Found by test/fuzz/body.test.ts: the payload was re-serialized with a raw
// CR, which the receiver's parser reads as LF (XML 2.11), so `&#13;` in a
// message arrived as a newline.
t.test('a carriage return sent as a reference stays one in the forwarded payload (XML 2.11)', async (t) => {
  const b = parseRequestBody(`<body ${NS} rid='9007199254740991'><_><_><_>&#13;</_></_></_></body>`)
  t.same(b.payload, ['<_><_><_>&#13;</_></_></_>'])
  const again = parseRequestBody(`<body ${NS} rid='1'>${b.payload.join('')}</body>`)
  t.same(again.payload, b.payload, 're-reading the payload gives it back unchanged')
  t.equal(parseElement(b.payload[0] as string).getChild('_')?.getChild('_')?.getText(), '\r', 'the text is a CR, not a LF')
})
