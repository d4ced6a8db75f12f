// tsung 1.7 configurations for the load benchmark (load.ts): pure functions
// from the run's parameters to the XML tsung reads, and to the users file.
//
// Chat: `users` BOSH users arrive at `arrivalPerSecond`, log in (SASL PLAIN,
// bind, session, initial presence), wait `settleSeconds`, then each sends
// `messages` chat messages to random online users, one every `intervalSeconds`
// (a fixed think time: tsung's random think times are drawn alike across
// users and make synchronized bursts, while staggered arrivals with a fixed
// interval give a smooth rate of users / interval), then waits for late
// deliveries and terminates its session. Messages are stamped (tsung's
// `stamped`), so tsung samples each one's delivery latency
// (`xmpp_msg_latency`), and the `fullstats` backend writes every sample.
//
// Burst: the same, but each user sends `messages` messages back to back.

export interface Target {
  /** Where BOSH is served. */
  host: string
  port: number
  path: string
  /** XMPP domain of the users. */
  domain: string
}

export interface ChatPlan {
  users: number
  arrivalPerSecond: number
  settleSeconds: number
  messages: number
  /** Seconds between one user's messages; 0 sends them back to back (burst). */
  intervalSeconds: number
  /** After the last message: time for the deliveries still on their way. */
  drainSeconds: number
  /** Path of the users file (usersCsv). */
  usersFile: string
}

/** The users file tsung reads with setdynvars: `name;password` per line. */
export function usersCsv (names: readonly string[], password: string): string {
  return names.map((name) => `${name};${password}\n`).join('')
}

/** tsung's think time in seconds, written as it parses it (integers or decimals). */
function seconds (s: number): string {
  if (!Number.isFinite(s) || s < 0) throw new Error(`not a duration: ${s}`)
  return Number.isInteger(s) ? String(s) : s.toFixed(3)
}

function head (target: Target, maxUsers: number): string {
  return `<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="warning" dumptraffic="false" backend="fullstats" version="1.0">
  <clients>
    <client host="localhost" use_controller_vm="true" maxusers="${maxUsers}"/>
  </clients>
  <servers>
    <server host="${target.host}" port="${target.port}" type="bosh"/>
  </servers>
`
}

/** The chat (or burst) scenario against `target`. */
export function chatConfig (target: Target, plan: ChatPlan): string {
  const arrivalSeconds = Math.ceil(plan.users / plan.arrivalPerSecond)
  const think = plan.intervalSeconds > 0 ? `\n        <thinktime value="${seconds(plan.intervalSeconds)}" random="false"/>` : ''
  // tsung draws arrivals at random (exponential gaps) and ends the phase at
  // its duration even if fewer than maxnumber came: three times the time the
  // rate needs makes a short count a practical impossibility, while maxnumber
  // still stops the arrivals once every user has come.
  return `${head(target, plan.users + 10)}  <load>
    <arrivalphase phase="1" duration="${3 * arrivalSeconds + 5}" unit="second">
      <users maxnumber="${plan.users}" arrivalrate="${plan.arrivalPerSecond}" unit="second"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="domain" value="${target.domain}"/>
    <option type="ts_jabber" name="userid_max" value="0"/>
    <option name="bosh_path" value="${target.path}"/>
    <option name="file_server" id="users" value="${plan.usersFile}"/>
  </options>
  <sessions>
    <session bidi="true" probability="100" name="chat" type="ts_jabber">
      <setdynvars sourcetype="file" fileid="users" delimiter=";" order="iter">
        <var name="username"/>
        <var name="password"/>
      </setdynvars>
      <transaction name="login">
        <request subst="true"><jabber type="connect" ack="local"><xmpp_authenticate username="%%_username%%" passwd="%%_password%%"/></jabber></request>
        <request><jabber type="auth_sasl" ack="local"/></request>
        <request><jabber type="connect" ack="local"/></request>
        <request><jabber type="auth_sasl_bind" ack="local"/></request>
        <request><jabber type="auth_sasl_session" ack="local"/></request>
      </transaction>
      <request><jabber type="presence:initial" ack="no_ack"/></request>
      <thinktime value="${seconds(plan.settleSeconds)}" random="false"/>
      <for from="1" to="${plan.messages}" incr="1" var="i">
        <request><jabber type="chat" ack="no_ack" size="48" destination="online" stamped="true"/></request>${think}
      </for>
      <thinktime value="${seconds(plan.drainSeconds)}" random="false"/>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
  </sessions>
</tsung>
`
}
