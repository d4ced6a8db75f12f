// The schema check every BOSH test file ends with (checkBodiesAgainstSchema):
// one xmllint run over all the bodies still fails on any invalid one, and
// names which.
import t from 'tap'
import { existsSync } from 'node:fs'
import { NS_HTTPBIND, SCHEMA, validateBodies } from './bosh-http.js'

const skip = existsSync(SCHEMA) ? false : `${SCHEMA} not found`

t.test('valid bodies pass, over several lines and with any payload namespace', { skip }, async (t) => {
  const body = `<body xmlns='${NS_HTTPBIND}' sid='a1' wait='10'><message xmlns='jabber:client'><body>two\nlines</body></message></body>`
  t.same(await validateBodies([body, `<body xmlns='${NS_HTTPBIND}'/>`, body]), { text: '', bodies: [] })
})

t.test('each invalid body fails the check and is named by its index', { skip }, async (t) => {
  const good = `<body xmlns='${NS_HTTPBIND}' sid='a1'>\n<presence xmlns='jabber:client'/>\n</body>`
  const result = await validateBodies([
    good,
    `<body xmlns='${NS_HTTPBIND}' secure='true'/>`,
    good,
    `<body xmlns='${NS_HTTPBIND}' wait='soon'/>`,
    "<body xmlns='jabber:client'/>"
  ])
  t.match(result.text, /attribute 'secure': The attribute 'secure' is not allowed/)
  t.match(result.text, /'soon' is not a valid value/)
  t.match(result.text, /\{jabber:client\}body': This element is not expected/)
  t.same(result.bodies, [1, 3, 4], 'the bodies named are the invalid ones')
})

t.test('a body that is not well-formed fails the check', { skip }, async (t) => {
  const result = await validateBodies([`<body xmlns='${NS_HTTPBIND}'/>`, `<body xmlns='${NS_HTTPBIND}'><unclosed></body>`])
  t.not(result.text, '')
})
