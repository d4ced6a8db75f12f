// Starts Converse.js (served by Megaphone at /converse/dist/) with the
// settings Megaphone put in the page: its WebSocket and BOSH endpoints on
// this origin, the default domain, and XEP-0198 stream management.
/* global converse */
const settings = JSON.parse(document.getElementById('megaphone-converse-settings').textContent)
// Strophe takes only a ws:// or wss:// URL for WebSocket (a path means BOSH):
// the endpoint's path on this page's host, with the page's security.
if (typeof settings.websocket_url === 'string' && settings.websocket_url.startsWith('/')) {
  const url = new URL(settings.websocket_url, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  settings.websocket_url = url.href
}
converse.initialize(settings)
