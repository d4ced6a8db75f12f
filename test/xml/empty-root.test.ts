// The hand-written reader of empty root elements (lib/empty-root.ts) against
// the XML parser it stands in for: on every generated document, it either
// declines (null) or returns exactly what the parser returns; and it never
// accepts what the parser refuses.
import t from 'tap'
import fc from 'fast-check'
import { emptyRoot } from '../../lib/empty-root.js'
import { parseRoot, splitRoot } from '../../lib/xml.js'

const NS = 'http://jabber.org/protocol/httpbind'

/** The parser's reading, or 'refused'. */
function parsed (text: string): unknown {
  try { return parseRoot(text) } catch { return 'refused' }
}

t.test('the requests clients send are read without the parser, as the parser reads them', async (t) => {
  const samples = [
    `<body rid='4127' xmlns='${NS}' sid='5e0a1f'/>`, // Strophe.js
    `<body xmlns="${NS}" rid="2" sid="s" ack="1"></body>`,
    `<body rid='3' sid='x' xmlns='${NS}' type='terminate'/>\n`,
    `<body content='text/xml; charset=utf-8' from='a@b' hold='1' rid='1' to='localhost' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' xmlns='${NS}' xmlns:xmpp='urn:xmpp:xbosh'/>`,
    `<body rid='9' sid='s' xmpp:restart='true' xmlns='${NS}' xmlns:xmpp='urn:xmpp:xbosh' to='localhost' xml:lang='en'/>`,
    `  <body rid = '1'\n xmlns = "${NS}" />`
  ]
  for (const text of samples) {
    const doc = emptyRoot(text)
    t.not(doc, null, `read by hand: ${text}`)
    t.same(doc, parseRoot(text), 'as the parser reads it')
  }
})

t.test('what the hand reader leaves to the parser', async (t) => {
  const declined = [
    `<?xml version='1.0'?><body rid='1' xmlns='${NS}'/>`, // a declaration
    `<body rid='1' xmlns='${NS}'><message/></body>`, // a child
    `<body rid='1' xmlns='${NS}'> </body>`, // text
    `<body rid='1&amp;' xmlns='${NS}'/>`, // a reference
    `<body rid='1' to='é' xmlns='${NS}'/>`, // non-ASCII
    `<body rid='1\t' xmlns='${NS}'/>`, // normalized whitespace
    `<b:body rid='1' xmlns:b='${NS}'/>`, // a prefixed root
    `<body rid='1' rid='2' xmlns='${NS}'/>`, // a repeated attribute
    '<body p:a=\'1\' q:a=\'2\' xmlns:p=\'urn:x\' xmlns:q=\'urn:x\'/>', // the same expanded name
    '<body p:a=\'1\'/>', // an unbound prefix
    "<body xmlns:p=''/>", // undeclaring
    "<body xmlns:xml='urn:x'/>",
    "<body xmlns='http://www.w3.org/2000/xmlns/'/>",
    `<body rid='1' xmlns='${NS}'/><!-- -->`,
    `<body rid='1' xmlns='${NS}'></bodx>`,
    `<body rid='1'xmlns='${NS}'/>`
  ]
  for (const text of declined) t.equal(emptyRoot(text), null, text)
})

// Documents near the edge of what the hand reader accepts: names, prefixes and
// values drawn from small alphabets that include the characters that matter.
const name = fc.oneof({ arbitrary: fc.constantFrom('body', 'rid', 'sid', 'a', 'xmlns', 'xml', 'p', 'q', 'x-1', '_x.y'), weight: 20 },
  { arbitrary: fc.constantFrom('1a', 'a:b', 'é', 'a b', ''), weight: 1 })
const qname = fc.oneof({ arbitrary: name, weight: 3 }, { arbitrary: fc.tuple(name, name).map(([p, l]) => `${p}:${l}`), weight: 1 })
const plainChar = fc.constantFrom('a', '1', ' ', '>', '/', '=', ':', ';', '#', 'urn:x', NS)
const edgeChar = fc.constantFrom("'", '"', '&', '<', '\t', '\n', '\r', 'é', '&amp;', '&#9;', '\u0001', '\uFFFF', '\uD800',
  'http://www.w3.org/XML/1998/namespace', 'http://www.w3.org/2000/xmlns/')
const valueChar = fc.oneof({ arbitrary: plainChar, weight: 12 }, { arbitrary: edgeChar, weight: 1 })
const value = fc.array(valueChar, { maxLength: 4 }).map((cs) => cs.join(''))
const space = fc.constantFrom('', ' ', '  ', '\n', '\t', '\r\n')
const attribute = fc.tuple(fc.constantFrom('', '', '', ' ', '\n'), qname, space, space, fc.boolean(), value)
const attributes = fc.oneof(
  { arbitrary: fc.uniqueArray(attribute, { maxLength: 5, selector: (a) => a[1] }), weight: 4 },
  { arbitrary: fc.array(attribute, { maxLength: 5 }), weight: 1 })
  .map((list) => list.map(([s, n, s1, s2, single, v]) => ` ${s}${n}${s1}=${s2}${single ? `'${v}'` : `"${v}"`}`).join(''))
const ending = fc.oneof(
  { arbitrary: fc.constantFrom('/>', ' />', '></body>', '></body >', '/>\n', '/>\r\n \t'), weight: 6 },
  { arbitrary: fc.constantFrom('></bodx>', '>x</body>', '><a/></body>', '>', '', '/> x', '/><!---->', '/><x/>'), weight: 1 })
const document = fc.tuple(
  fc.oneof({ arbitrary: fc.constantFrom('', ' ', '\n'), weight: 6 }, { arbitrary: fc.constantFrom('<?xml version="1.0"?>', '\uFEFF', 'x'), weight: 1 }),
  fc.oneof({ arbitrary: fc.constant('body'), weight: 6 }, { arbitrary: fc.constantFrom('b:body', 'x', 'xmlns:body'), weight: 1 }),
  attributes, ending)
  .map(([lead, root, attrs, end]) => `${lead}<${root}${attrs}${end}`)

t.test('on generated documents, the hand reader declines or agrees with the parser', async (t) => {
  let accepted = 0
  let refused = 0
  const runs = 20_000
  const failure = fc.check(fc.property(document, (text) => {
    const slow = parsed(text)
    if (slow === 'refused') refused++
    const quick = emptyRoot(text)
    if (quick === null) return true
    accepted++
    return JSON.stringify(quick) === JSON.stringify(slow)
  }), { numRuns: runs })
  t.notOk(failure.failed, 'no document read differently', { counterexample: failure.counterexample })
  // Not vacuous: a good share of the documents is read by hand, and a good share is refused by the parser.
  t.ok(accepted > runs / 5 && refused > runs / 5, `${accepted} of ${runs} documents read by hand; ${refused} refused by the parser`)
})

t.test('splitRoot answers the same whichever reader it used', async (t) => {
  const text = `<body rid='7' sid='s' xmlns='${NS}'/>`
  t.strictSame(splitRoot(text), parseRoot(text))
})
