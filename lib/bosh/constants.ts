// Namespaces and fixed values of XEP-0124 (BOSH) and XEP-0206 (XMPP over BOSH).

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
export const NS_XBOSH = 'urn:xmpp:xbosh'

/** XEP-0124 version this connection manager implements (the `ver` it answers with at most). */
export const BOSH_VERSION = '1.11'
/** XEP-0206 version of the XMPP stream carried (`xmpp:version`). */
export const XMPP_VERSION = '1.0'

/** XEP-0124 14.1: rids are below 2^53 so clients can count in doubles. */
export const MAX_RID = 2 ** 53 - 1

/** XEP-0124 9.2: `time` is an xs:unsignedShort (milliseconds). */
export const MAX_REPORT_TIME_MS = 65_535

/** How long session creation waits for ejabberd's stream header and features. */
export const STREAM_OPEN_TIMEOUT_MS = 15_000

/**
 * How long a terminate that arrived ahead of a gap in the rids waits for the
 * missing requests (XEP-0124 14.2) before the session ends anyway. A page that
 * closes may cancel its last request before it leaves the browser and send its
 * terminate by beacon: that gap never fills, and without this bound the
 * session would stay online until the inactivity timeout.
 */
export const TERMINATE_GAP_GRACE_MS = 3_000

/**
 * How long past the session's `wait` any other request queued ahead of a gap
 * waits for the missing one (XEP-0124 14.2) before the session ends with
 * item-not-found. By then a client has given up on the missing request and
 * sent it again (Strophe.js retries a request after 1.1 × wait); without a
 * bound, a client that skips a rid would keep requests and their connections
 * open, and the session counted active, for ever.
 */
export const MISSING_RID_GRACE_MS = 10_000

/** After a client's terminate, how long ejabberd has to close the stream before the connection ID is ended anyway. */
export const STREAM_CLOSE_TIMEOUT_MS = 10_000

/** Output from ejabberd one session may have waiting for its client's next request (UTF-16 units, about bytes). */
export const MAX_PENDING_OUTPUT_BYTES = 1 << 20
