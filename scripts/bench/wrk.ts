// wrk (Debian's wrk 4) for the cheapest-request throughput in load.ts: the
// Lua script that makes every request a BOSH POST, and wrk's summary read back.

/** XEP-0124 17.2: a body for a session that does not exist is answered at once with item-not-found. */
export const EMPTY_REQUEST = "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='bench-no-such-session'/>"

/** The wrk script: every request a POST of EMPTY_REQUEST. */
export function wrkScript (): string {
  return [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(EMPTY_REQUEST)}`,
    'wrk.headers["Content-Type"] = "text/xml; charset=utf-8"',
    ''
  ].join('\n')
}

export interface WrkResult {
  requestsPerSecond: number
  requests: number
  /** Socket errors (connect, read, write, timeout) and responses other than 2xx or 3xx. */
  errors: number
}

/** wrk's summary: "N requests in …", "Requests/sec: R", and any "Socket errors" or "Non-2xx or 3xx responses" lines. */
export function parseWrk (output: string): WrkResult {
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output)
  const total = /^\s*(\d+) requests in /m.exec(output)
  if (rate === null || total === null) throw new Error(`wrk printed no summary:\n${output}`)
  let errors = 0
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  if (socket !== null) errors += socket.slice(1).reduce((n, v) => n + Number(v), 0)
  const status = /Non-2xx or 3xx responses: (\d+)/.exec(output)
  if (status !== null) errors += Number(status[1])
  return { requestsPerSecond: Number(rate[1]), requests: Number(total[1]), errors }
}
