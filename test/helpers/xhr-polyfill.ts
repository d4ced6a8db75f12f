// XMLHttpRequest for Node, so Strophe.js's BOSH transport runs in a test as it
// runs in a browser. Written against the WHATWG XHR standard for what Strophe
// 5 calls (src/request.ts, src/transports/bosh.ts): open, setRequestHeader,
// overrideMimeType, send, abort, readyState, status, responseText,
// responseXML, getAllResponseHeaders, onreadystatechange; plus timeout and the
// load/error/abort/timeout handlers for completeness. Asynchronous requests
// only, over undici.
//
// responseXML matters: Strophe's Node build parses responseText itself when
// responseXML is missing, and then drops the document it parsed, so every
// response would look empty.
import { DOMParser, onErrorStopParsing, type Document } from '@xmldom/xmldom'
import { request, type Dispatcher } from 'undici'

const UNSENT = 0
const OPENED = 1
const HEADERS_RECEIVED = 2
const LOADING = 3
const DONE = 4

type Handler = ((this: XMLHttpRequest, event: Event) => void) | null

export interface XhrOptions {
  /** undici dispatcher for every request; the global one by default. */
  dispatcher?: Dispatcher
  /** Sees every response text, e.g. to schema-check BOSH bodies. */
  onResponseText?: (text: string) => void
}

const options: XhrOptions = {}

export class XMLHttpRequest extends EventTarget {
  static readonly UNSENT = UNSENT
  static readonly OPENED = OPENED
  static readonly HEADERS_RECEIVED = HEADERS_RECEIVED
  static readonly LOADING = LOADING
  static readonly DONE = DONE
  readonly UNSENT = UNSENT
  readonly OPENED = OPENED
  readonly HEADERS_RECEIVED = HEADERS_RECEIVED
  readonly LOADING = LOADING
  readonly DONE = DONE

  onreadystatechange: Handler = null
  onload: Handler = null
  onerror: Handler = null
  onabort: Handler = null
  ontimeout: Handler = null
  onloadend: Handler = null
  /** Milliseconds; 0 means none. */
  timeout = 0
  /** Cookies and credentials do not exist here; kept for callers that set it. */
  withCredentials = false

  #state = UNSENT
  #method = 'GET'
  #url = ''
  #requestHeaders: Record<string, string> = {}
  #sent = false
  #status = 0
  #statusText = ''
  #responseHeaders: Record<string, string> = {}
  #text = ''
  #xml: Document | null | undefined
  #mime: string | null = null
  #controller: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  /** Bumped by open() and abort(): a request whose generation has passed is ignored. */
  #generation = 0

  get readyState (): number { return this.#state }
  get status (): number { return this.#status }
  get statusText (): string { return this.#statusText }
  get responseURL (): string { return this.#url }
  get responseText (): string { return this.#text }
  get response (): string { return this.#text }

  /** XHR "document response": the body parsed as XML once it is all in, or null when it is not XML. */
  get responseXML (): Document | null {
    if (this.#state !== DONE) return null
    if (this.#xml === undefined) this.#xml = this.#isXml() ? parseXml(this.#text) : null
    return this.#xml
  }

  open (method: string, url: string | URL, async = true): void {
    if (!async) throw new DOMException('synchronous requests are not supported', 'InvalidAccessError')
    this.#cancel()
    this.#generation++
    this.#method = method.toUpperCase()
    this.#url = new URL(String(url)).href
    this.#requestHeaders = {}
    this.#sent = false
    this.#resetResponse()
    this.#setState(OPENED)
  }

  setRequestHeader (name: string, value: string): void {
    if (this.#state !== OPENED || this.#sent) throw new DOMException('not opened, or already sent', 'InvalidStateError')
    const key = name.toLowerCase()
    const prev = this.#requestHeaders[key]
    this.#requestHeaders[key] = prev === undefined ? String(value) : `${prev}, ${String(value)}`
  }

  overrideMimeType (mime: string): void {
    if (this.#state === LOADING || this.#state === DONE) throw new DOMException('response already loading', 'InvalidStateError')
    this.#mime = mime
  }

  send (body: string | null = null): void {
    if (this.#state !== OPENED || this.#sent) throw new DOMException('not opened, or already sent', 'InvalidStateError')
    this.#sent = true
    const generation = this.#generation
    const controller = new AbortController()
    this.#controller = controller
    if (this.timeout > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null
        if (generation !== this.#generation) return
        this.#cancel()
        this.#generation++
        this.#fail('timeout')
      }, this.timeout)
    }
    const payload = this.#method === 'GET' || this.#method === 'HEAD' ? undefined : body ?? undefined
    void this.#fetch(generation, controller.signal, payload)
  }

  abort (): void {
    const inFlight = (this.#state === OPENED && this.#sent) || this.#state === HEADERS_RECEIVED || this.#state === LOADING
    this.#cancel()
    this.#generation++
    if (inFlight) this.#fail('abort')
    // XHR: abort() leaves a finished request unsent, without an event.
    if (this.#state === DONE) {
      this.#state = UNSENT
      this.#resetResponse()
    }
  }

  getResponseHeader (name: string): string | null {
    if (this.#state < HEADERS_RECEIVED) return null
    return this.#responseHeaders[name.toLowerCase()] ?? null
  }

  getAllResponseHeaders (): string {
    if (this.#state < HEADERS_RECEIVED) return ''
    return Object.keys(this.#responseHeaders).sort().map((k) => `${k}: ${this.#responseHeaders[k] as string}\r\n`).join('')
  }

  async #fetch (generation: number, signal: AbortSignal, body: string | undefined): Promise<void> {
    const current = (): boolean => generation === this.#generation
    try {
      const res = await request(this.#url, {
        method: this.#method as Dispatcher.HttpMethod,
        headers: this.#requestHeaders,
        body,
        signal,
        // Long polls last as long as the server's `wait`; the caller times them out (timeout, or abort()).
        headersTimeout: 0,
        bodyTimeout: 0,
        ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher })
      })
      if (!current()) {
        res.body.destroy()
        return
      }
      this.#status = res.statusCode
      this.#statusText = res.statusText ?? ''
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) this.#responseHeaders[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      }
      this.#setState(HEADERS_RECEIVED)
      if (!current()) return
      this.#setState(LOADING)
      if (!current()) return
      const text = await res.body.text()
      if (!current()) return
      options.onResponseText?.(text)
      this.#text = text
      this.#clearTimer()
      this.#controller = null
      this.#setState(DONE)
      this.#emit('load')
      this.#emit('loadend')
    } catch {
      // An abort or timeout has already reported itself; anything else is a network error.
      if (current()) {
        this.#cancel()
        this.#fail('error')
      }
    }
  }

  /** XHR "request error steps": done, status 0, no response, then the event. */
  #fail (event: 'abort' | 'error' | 'timeout'): void {
    this.#resetResponse()
    this.#setState(DONE)
    this.#emit(event)
    this.#emit('loadend')
  }

  #cancel (): void {
    this.#clearTimer()
    const controller = this.#controller
    this.#controller = null
    controller?.abort()
  }

  #clearTimer (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  #resetResponse (): void {
    this.#status = 0
    this.#statusText = ''
    this.#responseHeaders = {}
    this.#text = ''
    this.#xml = undefined
  }

  #isXml (): boolean {
    const mime = (this.#mime ?? this.#responseHeaders['content-type'] ?? 'text/xml').split(';')[0]!.trim().toLowerCase()
    return mime === 'text/xml' || mime === 'application/xml' || mime.endsWith('+xml')
  }

  #setState (state: number): void {
    this.#state = state
    this.#emit('readystatechange')
  }

  #emit (type: string): void {
    const event = new Event(type)
    const handler = (this as unknown as Record<string, Handler>)[`on${type}`]
    try {
      if (typeof handler === 'function') handler.call(this, event)
    } catch (err) {
      // As a browser reports a throwing handler without failing the request
      // (and as Node's EventTarget reports a throwing listener): uncaught.
      process.nextTick(() => { throw err })
    }
    this.dispatchEvent(event)
  }
}

/** The XML parser's document, or null when the text is not well-formed (XHR: a parse failure gives null). */
function parseXml (text: string): Document | null {
  if (text === '') return null
  try {
    return new DOMParser({ onError: onErrorStopParsing }).parseFromString(text, 'text/xml')
  } catch {
    return null
  }
}

/** Installs the polyfill as the global XMLHttpRequest; returns a function that restores the previous one. */
export function installXMLHttpRequest (opts: XhrOptions = {}): () => void {
  const g = globalThis as { XMLHttpRequest?: unknown }
  const previous = g.XMLHttpRequest
  const previousOptions = { ...options }
  g.XMLHttpRequest = XMLHttpRequest
  options.dispatcher = opts.dispatcher
  options.onResponseText = opts.onResponseText
  return () => {
    g.XMLHttpRequest = previous
    Object.assign(options, previousOptions)
  }
}
