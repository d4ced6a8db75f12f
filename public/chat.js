// The chat page's client: logs in with Strophe over WebSocket (RFC 7395),
// or BOSH when WebSocket fails, then shows the roster with each contact's
// presence and a log of messages in and out.
//
// Both go to Megaphone on this origin, at the paths index.html names: the
// WebSocket endpoint first (when Megaphone serves one), and BOSH when the
// WebSocket cannot connect. ?service= gives one endpoint to use instead (an
// http(s) path for BOSH, a ws(s) URL for WebSocket); the page's CSP lets it
// reach only this origin. ?domain= sets the domain of a bare user name
// (default localhost). The status line says which transport is in use.
//
// Text from the network reaches the page only through textContent.
//
// Strophe is its minified build, a classic script that index.html runs first
// (deferred scripts and modules run in document order) and that defines
// these on globalThis; Megaphone serves it under a fingerprinted URL.
const { Strophe, $iq, $msg, $pres } = globalThis

const { Status, NS } = Strophe
// XEP-0184: receipts mark an outgoing message delivered.
const NS_RECEIPTS = 'urn:xmpp:receipts'
const NS_DELAY = 'urn:xmpp:delay'

const params = new URLSearchParams(location.search)
const boshPath = document.querySelector('meta[name="bosh-path"]')?.getAttribute('content') ?? '/http-bind'
const websocketPath = document.querySelector('meta[name="websocket-path"]')?.getAttribute('content') ?? ''
const boshService = new URL(boshPath, location.href).href
/** The endpoints to try, in order: the one ?service= names, or WebSocket (if served) then BOSH. */
const services = params.has('service')
  ? [new URL(params.get('service'), location.href).href]
  : [...(websocketPath === '' ? [] : [websocketUrl(websocketPath)]), boshService]

function websocketUrl (path) {
  const url = new URL(path, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.href
}

const transportOf = (url) => /^wss?:/.test(url) ? 'WebSocket' : 'BOSH'
const defaultDomain = params.get('domain') ?? 'localhost'

// Strophe logs every request at DEBUG by default.
Strophe.setLogLevel(Strophe.LogLevel.WARN)

const byId = (id) => document.getElementById(id)
const ui = {
  status: byId('status'),
  login: byId('login'),
  jid: byId('jid'),
  password: byId('password'),
  connect: byId('connect'),
  chat: byId('chat'),
  roster: byId('roster'),
  rosterEmpty: byId('roster-empty'),
  show: byId('show'),
  logout: byId('logout'),
  log: byId('log'),
  compose: byId('compose'),
  to: byId('to'),
  body: byId('body')
}

/** The connection, from log-in until Strophe reports it disconnected. */
let conn = null
/** Index in `services` of the endpoint `conn` uses. */
let serviceIndex = 0
/** The endpoint `conn` uses. */
let service = services[0]
/** Whether `conn` got as far as CONNECTED. */
let connected = false
/** Whether the user pressed Log out, so the end of the session is no error. */
let loggingOut = false
/** Why the connection failed, kept on screen through the DISCONNECTED that follows. */
let failure = null
/** Roster: bare JID -> { name, resources: Map<resource, show> } */
const contacts = new Map()

function setStatus (state, text) {
  ui.status.dataset.state = state
  ui.status.textContent = text
}

/** A bare user name means that user at the default domain. */
function toJid (input) {
  const jid = input.trim()
  return jid.includes('@') ? jid : `${jid}@${defaultDomain}`
}

const bare = (jid) => Strophe.getBareJidFromJid(jid)

/** The first child element named `name` (in namespace `ns`, if given). */
function child (el, name, ns) {
  for (const c of el.children) {
    if (c.localName === name && (ns === undefined || c.namespaceURI === ns)) return c
  }
  return null
}

ui.login.addEventListener('submit', (event) => {
  event.preventDefault()
  if (conn !== null) return
  connectTo(0)
})

function connectTo (index) {
  serviceIndex = index
  service = services[index]
  const c = new Strophe.Connection(service)
  conn = c
  connected = false
  loggingOut = false
  failure = null
  ui.connect.disabled = true
  ui.status.dataset.transport = transportOf(service)
  // Callbacks of an earlier connection may still run; only the current one counts.
  c.connect(toJid(ui.jid.value), ui.password.value, (status, condition) => { if (c === conn) onStatus(status, condition) })
}

/**
 * A WebSocket that never got as far as CONNECTED (no endpoint, a refused
 * upgrade, a proxy that drops it): the next endpoint is tried, once each.
 */
function fallBack () {
  if (connected || loggingOut || failure !== null || serviceIndex + 1 >= services.length) return false
  conn = null
  setStatus('connecting', `${transportOf(service)} failed; trying ${transportOf(services[serviceIndex + 1])}…`)
  connectTo(serviceIndex + 1)
  return true
}

function onStatus (status, condition) {
  switch (status) {
    case Status.CONNECTING:
      setStatus('connecting', 'Connecting…')
      break
    case Status.AUTHENTICATING:
      setStatus('connecting', 'Logging in…')
      break
    case Status.CONNECTED:
      onConnected()
      break
    case Status.AUTHFAIL:
      fail('Log-in failed: wrong JID or password')
      // Strophe leaves the BOSH session open after a SASL failure; end it.
      conn.disconnect('authentication failed')
      break
    case Status.CONNFAIL:
      if (transportOf(service) === 'WebSocket' && fallBack()) break
      fail(`Connection failed: ${condition ?? 'unknown error'}`)
      break
    case Status.CONNTIMEOUT:
      fail('Connection failed: timed out')
      break
    case Status.ERROR:
      fail(`Error: ${condition ?? 'unknown'}`)
      break
    case Status.DISCONNECTING:
      if (failure === null) setStatus('disconnecting', loggingOut ? 'Logging out…' : 'Disconnecting…')
      break
    case Status.DISCONNECTED:
      if (transportOf(service) === 'WebSocket' && fallBack()) break
      onDisconnected()
      break
  }
}

/** Shows the first reason for a failure; Strophe may report a second on the way down. */
function fail (reason) {
  failure ??= reason
  setStatus('error', failure)
}

function onConnected () {
  connected = true
  setStatus('connected', `Connected as ${conn.jid} (${transportOf(service)})`)
  ui.log.replaceChildren()
  ui.show.value = ''
  ui.login.hidden = true
  ui.chat.hidden = false
  conn.addHandler(onRosterPush, NS.ROSTER, 'iq', 'set')
  conn.addHandler(onPresence, null, 'presence')
  conn.addHandler(onMessage, null, 'message')
  // RFC 6121 2.2: a client SHOULD request the roster before sending initial presence.
  const c = conn
  c.sendIQ($iq({ type: 'get' }).c('query', { xmlns: NS.ROSTER }), (result) => {
    for (const item of result.getElementsByTagName('item')) updateContact(item)
    renderRoster()
    c.send($pres())
  }, () => {
    setStatus('connected', `Connected as ${c.jid} (${transportOf(service)}; roster unavailable)`)
    c.send($pres())
  })
  ui.to.focus()
}

function onDisconnected () {
  conn = null
  contacts.clear()
  renderRoster()
  ui.chat.hidden = true
  ui.login.hidden = false
  ui.connect.disabled = false
  ui.password.value = ''
  // A 4xx from the endpoint ends the connection without a CONNFAIL.
  if (failure !== null) setStatus('error', failure)
  else if (!connected) setStatus('error', `Connection failed: ${service} refused the session`)
  else if (!loggingOut) setStatus('error', 'Disconnected by the server')
  else setStatus('disconnected', 'Logged out')
}

ui.logout.addEventListener('click', () => {
  if (conn === null) return
  loggingOut = true
  // Sends unavailable presence in a BOSH terminate request.
  conn.disconnect('logout')
})

ui.show.addEventListener('change', () => {
  if (!connected || conn === null) return
  conn.send(ui.show.value === '' ? $pres() : $pres().c('show').t(ui.show.value))
})

// Roster

function updateContact (item) {
  const jid = item.getAttribute('jid')
  if (jid === null) return
  if (item.getAttribute('subscription') === 'remove') {
    contacts.delete(jid)
    return
  }
  const resources = contacts.get(jid)?.resources ?? new Map()
  contacts.set(jid, { name: item.getAttribute('name') || jid, resources })
}

function onRosterPush (iq) {
  const from = iq.getAttribute('from')
  // RFC 6121 2.1.6: a push not from the user's own account is ignored.
  if (from !== null && bare(from) !== bare(conn.jid)) return true
  for (const item of iq.getElementsByTagName('item')) updateContact(item)
  renderRoster()
  conn.send($iq({ type: 'result', id: iq.getAttribute('id') }))
  return true
}

function onPresence (pres) {
  const from = pres.getAttribute('from')
  const contact = from === null ? undefined : contacts.get(bare(from))
  // Presence of others (and subscription requests) is not shown.
  if (contact === undefined) return true
  const type = pres.getAttribute('type')
  const resource = Strophe.getResourceFromJid(from) ?? ''
  if (type === 'unavailable' || type === 'error') contact.resources.delete(resource)
  else if (type === null) contact.resources.set(resource, child(pres, 'show')?.textContent ?? '')
  else return true
  renderRoster()
  return true
}

/** online if any resource is available for chat, away if all are away (or busy), else offline. */
function presenceOf (contact) {
  const shows = [...contact.resources.values()]
  if (shows.length === 0) return 'offline'
  return shows.some((show) => show === '' || show === 'chat') ? 'online' : 'away'
}

function renderRoster () {
  const items = [...contacts].sort(([a], [b]) => a.localeCompare(b)).map(([jid, contact]) => {
    const presence = presenceOf(contact)
    const li = document.createElement('li')
    li.dataset.jid = jid
    li.dataset.presence = presence
    const button = document.createElement('button')
    button.type = 'button'
    button.title = `Write to ${jid}`
    button.append(span('name', contact.name), span('presence', presence))
    li.append(button)
    return li
  })
  ui.roster.replaceChildren(...items)
  ui.rosterEmpty.hidden = items.length > 0
}

ui.roster.addEventListener('click', (event) => {
  const li = event.target.closest('li[data-jid]')
  if (li === null) return
  ui.to.value = li.dataset.jid
  ui.body.focus()
})

// Messages

ui.compose.addEventListener('submit', (event) => {
  event.preventDefault()
  if (!connected || conn === null) return
  const to = toJid(ui.to.value)
  const text = ui.body.value
  if (text.trim() === '') return
  const id = conn.getUniqueId('msg')
  conn.send($msg({ to, type: 'chat', id }).c('body').t(text).up().c('request', { xmlns: NS_RECEIPTS }))
  appendLog('out', bare(to), text, id)
  ui.body.value = ''
  ui.body.focus()
})

function onMessage (msg) {
  const from = msg.getAttribute('from') ?? ''
  const id = msg.getAttribute('id')
  if (msg.getAttribute('type') === 'error') {
    const li = findLogEntry(id)
    if (li !== null) {
      li.dataset.failed = 'true'
      li.title = `Not delivered: ${child(msg, 'error')?.firstElementChild?.localName ?? 'error'}`
    }
    return true
  }
  const receipt = child(msg, 'received', NS_RECEIPTS)
  if (receipt !== null) {
    const li = findLogEntry(receipt.getAttribute('id'))
    if (li !== null && li.dataset.to === bare(from)) li.dataset.delivered = 'true'
  }
  const body = child(msg, 'body')
  if (body === null) return true
  const stamp = child(msg, 'delay', NS_DELAY)?.getAttribute('stamp')
  appendLog('in', bare(from), body.textContent, id, stamp ? new Date(stamp) : new Date())
  // XEP-0184: answer a request for a receipt (errors returned early; groupchat gets none).
  if (id !== null && child(msg, 'request', NS_RECEIPTS) !== null && msg.getAttribute('type') !== 'groupchat') {
    conn.send($msg({ to: from, id: conn.getUniqueId('receipt') }).c('received', { xmlns: NS_RECEIPTS, id }))
  }
  return true
}

function findLogEntry (id) {
  if (id === null) return null
  return [...ui.log.children].find((li) => li.dataset.direction === 'out' && li.dataset.id === id) ?? null
}

function appendLog (direction, peer, text, id, date = new Date()) {
  const li = document.createElement('li')
  li.dataset.direction = direction
  if (direction === 'in') li.dataset.from = peer
  else li.dataset.to = peer
  if (id !== null) li.dataset.id = id
  const time = document.createElement('time')
  time.dateTime = date.toISOString()
  time.textContent = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  li.append(time, span('who', direction === 'in' ? peer : `to ${peer}`), span('body', text))
  ui.log.append(li)
  li.scrollIntoView({ block: 'nearest' })
}

function span (className, text) {
  const s = document.createElement('span')
  s.className = className
  s.textContent = text
  return s
}

// Closing or leaving the page ends the session at once (XEP-0124 13) instead of
// leaving it online until the inactivity timeout: a beacon outlives the page,
// and the endpoint accepts its text/plain body. The rid is Strophe's next one;
// a terminate may come one beyond the window (XEP-0124 11). Over WebSocket,
// the stream's <close/> (RFC 7395 3.6) goes before the browser drops the socket.
addEventListener('pagehide', () => {
  if (connected && transportOf(service) === 'WebSocket') {
    conn?._proto?.socket?.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
    return
  }
  const proto = conn?._proto
  if (!connected || typeof proto?.sid !== 'string' || !Number.isSafeInteger(proto.rid)) return
  const body = `<body xmlns='http://jabber.org/protocol/httpbind' rid='${proto.rid}' sid='${proto.sid.replace(/[^\w-]/g, '')}' type='terminate'>` +
    "<presence xmlns='jabber:client' type='unavailable'/></body>"
  navigator.sendBeacon(service, new Blob([body], { type: 'text/plain;charset=UTF-8' }))
})
