// xmpp.js (@xmpp/client) as the tests' XEP-0198 client: it resumes its stream
// over WebSocket after a dropped connection and resends what ejabberd had not
// acknowledged. A Chatter counts what happens to it; pairs chat steadily.
import WebSocket from 'ws'
import type { EventEmitter } from 'node:events'
import { client, xml, type Client } from '@xmpp/client'
import type { Element } from '@xmpp/xml'
import { testEjabberd } from './ejabberd.js'

// @xmpp/websocket opens the global WebSocket, which Node 20 does not have yet.
const global = globalThis as { WebSocket?: unknown }
global.WebSocket ??= WebSocket

/** The parts of xmpp.js's stream management (0.14) the test reads; its typings lag behind. */
export type StreamManagement = EventEmitter & { outbound_q: unknown[] }

export interface Chatter {
  user: string
  xmpp: Client
  sm: StreamManagement
  /** Bodies of chat messages from the partner, in arrival order. */
  received: string[]
  /** Chat messages from anyone else. */
  strays: string[]
  sent: number
  /** XEP-0198 <resumed/>, fresh log-ins ('online', the first one included), dropped connections. */
  resumed: number
  onlines: number
  disconnects: number
  /** Stanzas xmpp.js resent after a resumption: sent, but not acknowledged by ejabberd's <resumed h=''/>. */
  resent: number
  /** Messages from the partner that ejabberd resent after a resumption (they carry its XEP-0203 delay). */
  redelivered: number
  /** Stanzas xmpp.js gave up on (a resumption failed). */
  failed: number
  errors: string[]
}

/** Logs `user` in over WebSocket at `wsUrl`, with stream management (xmpp.js enables it with resumption). */
export async function logIn (wsUrl: string, user: string, password: string, domain = testEjabberd().domain): Promise<Chatter> {
  const xmpp = client({ service: wsUrl, domain, resource: 'roll', username: user, password, timeout: 10_000 })
  const sm = xmpp.streamManagement as unknown as StreamManagement
  const c: Chatter = { user, xmpp, sm, received: [], strays: [], sent: 0, resumed: 0, onlines: 0, disconnects: 0, resent: 0, redelivered: 0, failed: 0, errors: [] }
  // A stream error (system-shutdown when a process closes) is reported as an error, then reconnected from.
  xmpp.on('error', (err: Error) => { c.errors.push(err.message) })
  xmpp.on('online', () => { c.onlines++ })
  xmpp.on('disconnect', () => { c.disconnects++ })
  // Emitted once the unacknowledged stanzas are resent, which puts them back in the queue, and before anything new is sent.
  sm.on('resumed', () => { c.resumed++; c.resent += sm.outbound_q.length })
  sm.on('fail', () => { c.failed++ })
  await xmpp.start()
  return c
}

/** Pairs (0, 1), (2, 3), …: records what each receives from its partner. */
export function listen (chatters: Chatter[]): void {
  chatters.forEach((c, i) => {
    const partner = (chatters[i ^ 1] as Chatter).xmpp.jid?.toString()
    c.xmpp.on('stanza', (stanza: Element) => {
      if (!stanza.is('message') || stanza.attrs.type !== 'chat') return
      const body = stanza.getChildText('body')
      if (body === null) return
      if (stanza.attrs.from !== partner) {
        c.strays.push(`${String(stanza.attrs.from)}: ${body}`)
        return
      }
      c.received.push(body)
      if (stanza.getChild('delay', 'urn:xmpp:delay') !== undefined) c.redelivered++
    })
  })
}

/**
 * Every `everyMs`, each client that is online sends its partner the next
 * message. Once handed to xmpp.js a message is never sent again by the test:
 * if the connection drops, getting it there is XEP-0198's job.
 */
export function chatSteadily (chatters: Chatter[], everyMs: number): { stop: () => void } {
  const timer = setInterval(() => {
    chatters.forEach((c, i) => {
      if (c.xmpp.status !== 'online') return
      c.sent++
      const to = (chatters[i ^ 1] as Chatter).xmpp.jid?.toString()
      c.xmpp.send(xml('message', { to, type: 'chat' }, xml('body', {}, `m${c.sent}`))).catch((err: unknown) => { c.errors.push(`send: ${String(err)}`) })
    })
  }, everyMs)
  return { stop: () => { clearInterval(timer) } }
}

/** The chatters that did not receive exactly m1 … m<sent> of their partner's, in order. */
export function outOfOrder (chatters: Chatter[]): Chatter[] {
  return chatters.filter((c, i) => {
    const expected = Array.from({ length: (chatters[i ^ 1] as Chatter).sent }, (_v, k) => `m${k + 1}`)
    return JSON.stringify(c.received) !== JSON.stringify(expected)
  })
}

/** Stops reconnecting and ends every stream. */
export async function stopAll (chatters: Chatter[]): Promise<void> {
  await Promise.all(chatters.map(async (c) => {
    c.xmpp.reconnect.stop()
    await c.xmpp.stop().catch(() => {})
  }))
}
