# shellcheck shell=bash
# shellcheck disable=SC2034 # the BOSH_* state is read by the entry scripts
# BOSH (XEP-0124) with XMPP over it (XEP-0206) in bash and curl alone, for the
# operator's check scripts beside this file. Sourced, never run. One function
# per protocol step; each prints one "ok  ..." line to stderr, or a "FAIL step:
# ..." line naming what came back, and exits 1 (terminating the session first if
# the server still holds it).
#
# Responses are read with bash regular expressions, not an XML parser: enough to
# find the few elements a login needs, in the serialisations ejabberd and
# Megaphone produce (either quote style, optional namespace prefixes).
#
# State, shared by the functions below (the entry scripts set the first block):
#   BOSH_URL BOSH_DOMAIN BOSH_WAIT BOSH_STEP_SECONDS BOSH_INSECURE BOSH_VERBOSE
#   BOSH_SID   the session id
#   BOSH_RID   the rid of the NEXT request; every request takes it and adds 1
#   BOSH_JID   the bound JID
#   BOSH_OPEN  1 while the server holds the session (so a failure terminates it)
#   BOSH_RESPONSE  the last response body; BOSH_INBOX  every response of the current step
#   BOSH_TERMINATE the condition of a terminate answer, or empty

readonly NS_HTTPBIND='http://jabber.org/protocol/httpbind'
readonly NS_XBOSH='urn:xmpp:xbosh'
readonly NS_SASL='urn:ietf:params:xml:ns:xmpp-sasl'
readonly NS_BIND='urn:ietf:params:xml:ns:xmpp-bind'
readonly NS_SESSION='urn:ietf:params:xml:ns:xmpp-session'
readonly NS_STANZAS='urn:ietf:params:xml:ns:xmpp-stanzas'
readonly BOSH_DEFAULT_URL='http://127.0.0.1:5280/http-bind'
readonly BOSH_DEFAULT_DOMAIN='localhost'
# Seconds: the longest the server may hold a request (the creation's `wait`);
# curl allows each request this plus BOSH_SLACK_SECONDS, 10 unless the
# environment says otherwise (the tests use 1).
readonly BOSH_DEFAULT_WAIT=10
BOSH_SLACK_SECONDS="${BOSH_SLACK_SECONDS:-10}"
if ! [[ "$BOSH_SLACK_SECONDS" =~ ^[0-9]{1,4}$ ]]; then
  printf '%s: BOSH_SLACK_SECONDS must be a number of seconds (0-9999): %s\n' "${0##*/}" "$BOSH_SLACK_SECONDS" >&2
  exit 2
fi
readonly BOSH_SLACK_SECONDS
# Seconds: how long one step may poll for what it waits for.
readonly BOSH_DEFAULT_STEP_SECONDS=30
# Seconds curl may take to connect; an unreachable server fails this fast.
readonly BOSH_CONNECT_SECONDS=5
# Seconds the best-effort terminate after a failure may take.
readonly BOSH_ABORT_SECONDS=5

BOSH_PROGRAM="${0##*/}"
BOSH_URL="$BOSH_DEFAULT_URL"
BOSH_DOMAIN="$BOSH_DEFAULT_DOMAIN"
BOSH_DOMAIN_SET=0
BOSH_WAIT="$BOSH_DEFAULT_WAIT"
BOSH_STEP_SECONDS="$BOSH_DEFAULT_STEP_SECONDS"
BOSH_RESOURCE=''
BOSH_INSECURE=0
BOSH_VERBOSE=0
BOSH_SID=''
BOSH_RID=''
BOSH_JID=''
BOSH_OPEN=0
BOSH_RESPONSE=''
BOSH_TERMINATE=''
BOSH_INBOX=''
BOSH_FEATURES=''
BOSH_ARGS=()

# Ctrl-C mid-check: end the session rather than leave it to time out.
trap 'bosh_fail interrupted "stopped by a signal"' INT TERM

# ---------------------------------------------------------------- output

bosh_ok() { printf 'ok  %s\n' "$*" >&2; }

# bosh_fail STEP MESSAGE: reports, terminates the session if it is still open, exits 1.
bosh_fail() {
  printf 'FAIL %s: %s\n' "$1" "$2" >&2
  if ((BOSH_OPEN == 1)); then
    BOSH_OPEN=0
    bosh_abort
  fi
  exit 1
}

# bosh_usage_error MESSAGE: a mistake on the command line (exit 2).
bosh_usage_error() {
  printf '%s: %s (see %s -h)\n' "$BOSH_PROGRAM" "$1" "$BOSH_PROGRAM" >&2
  exit 2
}

bosh_trace() {
  ((BOSH_VERBOSE == 1)) || return 0
  local text="$2" re='(<auth[^>]*>)[^<]*(</auth>)'
  # The SASL PLAIN token is the password, base64-encoded.
  if [[ "$text" =~ $re ]]; then
    text="${text/"${BASH_REMATCH[0]}"/"${BASH_REMATCH[1]}(token hidden)${BASH_REMATCH[2]}"}"
  fi
  printf '%s %s\n' "$1" "$text" >&2
}

# One line, at most 300 characters, for error messages.
bosh_excerpt() {
  local text="${1//$'\n'/ }"
  text="${text//$'\r'/}"
  ((${#text} <= 300)) || text="${text:0:300}..."
  printf '%s' "$text"
}

# ---------------------------------------------------------------- XML by hand

# Text and attribute values: & < > ' " (bash 5.2 would read a bare & in the
# replacement as "the match", hence the quotes).
bosh_xml_escape() {
  local s="$1"
  s="${s//&/"&amp;"}"
  s="${s//</"&lt;"}"
  s="${s//>/"&gt;"}"
  s="${s//\'/"&apos;"}"
  s="${s//\"/"&quot;"}"
  printf '%s' "$s"
}

bosh_xml_unescape() {
  local s="$1"
  s="${s//"&lt;"/<}"
  s="${s//"&gt;"/>}"
  s="${s//"&apos;"/\'}"
  s="${s//"&quot;"/\"}"
  s="${s//"&amp;"/"&"}"
  printf '%s' "$s"
}

# bosh_attr TAG NAME: prints the (unescaped) value of attribute NAME in start tag TAG.
bosh_attr() {
  local re="[[:space:]]$2[[:space:]]*=[[:space:]]*('([^']*)'|\"([^\"]*)\")"
  [[ "$1" =~ $re ]] || return 1
  bosh_xml_unescape "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
}

# bosh_find NAME [ID]: finds the first start tag <NAME ...> (any namespace
# prefix; with id=ID if given) in BOSH_INBOX. Sets BOSH_TAG to it and BOSH_REST
# to the text after it; returns 1 if there is none.
bosh_find() {
  local name="$1" id="${2:-}" rest="$BOSH_INBOX" tag
  local re="<([[:alnum:]_.-]+:)?${name}([[:space:]][^>]*)?/?>"
  while [[ "$rest" =~ $re ]]; do
    tag="${BASH_REMATCH[0]}"
    rest="${rest#*"$tag"}"
    if [[ -z "$id" || "$(bosh_attr "$tag" id)" == "$id" ]]; then
      BOSH_TAG="$tag"
      BOSH_REST="$rest"
      return 0
    fi
  done
  return 1
}

# The first child element's name in TEXT (a condition such as not-authorized).
bosh_first_child() {
  local re='^[[:space:]]*<([[:alnum:]_.:-]+)'
  [[ "$1" =~ $re ]] || return 1
  printf '%s' "${BASH_REMATCH[1]##*:}"
}

# The stanza error condition (RFC 6120 8.3) inside TEXT, e.g. "item-not-found".
bosh_stanza_error() {
  local re="<([[:alnum:]-]+)[[:space:]]+xmlns=['\"]${NS_STANZAS}['\"]"
  [[ "$1" =~ $re ]] || { printf 'unknown'; return; }
  printf '%s' "${BASH_REMATCH[1]}"
}

# ---------------------------------------------------------------- HTTP

bosh_random_rid() {
  local n
  n="$(od -An -tu4 -N4 /dev/urandom | tr -d ' \n')"
  # XEP-0124 7.1: random, and far enough below 2^53 - 1 never to reach it.
  printf '%s' "$((n % 4000000000 + 1000000))"
}

# bosh_body ATTRS [PAYLOAD]: <body xmlns=... ATTRS>PAYLOAD</body>; ATTRS is
# pre-escaped (" name='value'" ...).
bosh_body() {
  if [[ -z "${2:-}" ]]; then
    printf "<body xmlns='%s'%s/>" "$NS_HTTPBIND" "$1"
  else
    printf "<body xmlns='%s'%s>%s</body>" "$NS_HTTPBIND" "$1" "$2"
  fi
}

bosh_curl_error() {
  case "$1" in
    6) printf 'could not resolve the host of %s' "$BOSH_URL" ;;
    7) printf 'could not connect to %s (connection refused or host unreachable)' "$BOSH_URL" ;;
    28) printf 'no answer from %s within %ss' "$BOSH_URL" "$2" ;;
    35) printf 'TLS handshake with %s failed' "$BOSH_URL" ;;
    52) printf 'empty reply from %s (connection closed without an HTTP response)' "$BOSH_URL" ;;
    56) printf 'connection to %s reset while reading the answer' "$BOSH_URL" ;;
    60) printf 'the TLS certificate of %s is not trusted (-k accepts it)' "$BOSH_URL" ;;
    *) printf 'curl failed with exit code %s on %s' "$1" "$BOSH_URL" ;;
  esac
}

# bosh_post STEP BODY: one POST. On success BOSH_RESPONSE is the response body
# and is appended to BOSH_INBOX; BOSH_TERMINATE holds the terminate condition
# ('' if the session goes on). Fails the step on a curl error, an HTTP status
# other than 200 or an answer that is not a <body/>.
bosh_post() {
  local step="$1" body="$2" out code=0 status connects text max_seconds head condition
  local stream_error_re="<(stream:error|error[[:space:]][^>]*['\"]http://etherx.jabber.org/streams['\"])[^>]*>(.*)"
  local body_re='^[[:space:]]*(<\?xml[^>]*\?>)?[[:space:]]*(<body([[:space:]][^>]*)?/?>)'
  local -a curl_args
  max_seconds=$((BOSH_WAIT + BOSH_SLACK_SECONDS))
  curl_args=(--silent --request POST --data-binary @-
    --header 'Content-Type: text/xml; charset=utf-8'
    --connect-timeout "$BOSH_CONNECT_SECONDS" --max-time "$max_seconds"
    --write-out '\n%{http_code} %{num_connects}')
  ((BOSH_INSECURE == 0)) || curl_args+=(--insecure)
  bosh_trace '>>>' "$body"
  # The body goes on stdin: it holds the SASL token, which must not show in ps.
  out="$(printf '%s' "$body" | curl "${curl_args[@]}" -- "$BOSH_URL")" || code=$?
  # curl writes "STATUS CONNECTIONS" last, even when it fails.
  read -r status connects <<<"${out##*$'\n'}"
  if ((code != 0)); then
    if ((code == 28 && connects == 0)); then
      BOSH_OPEN=0
      bosh_fail "$step" "could not connect to $BOSH_URL within ${BOSH_CONNECT_SECONDS}s"
    fi
    # After a timeout the server may still hold the session: terminate it.
    ((code == 28)) || BOSH_OPEN=0
    bosh_fail "$step" "$(bosh_curl_error "$code" "$max_seconds")"
  fi
  text="${out%$'\n'*}"
  bosh_trace "<<< HTTP $status" "$text"
  if [[ "$status" != 200 ]]; then
    # XEP-0124 17.1 (legacy): 400, 403, 404 end the session.
    BOSH_OPEN=0
    bosh_fail "$step" "HTTP $status from $BOSH_URL: $(bosh_excerpt "$text")"
  fi
  if ! [[ "$text" =~ $body_re ]]; then
    bosh_fail "$step" "the answer is not a BOSH <body/>: $(bosh_excerpt "${text:-(empty)}")"
  fi
  head="${BASH_REMATCH[2]}"
  BOSH_RESPONSE="$text"
  BOSH_INBOX+="$text"
  BOSH_TERMINATE=''
  # XEP-0124 17.2; type='error' is the pre-1.6 form.
  case "$(bosh_attr "$head" type || true)" in
    terminate | error)
      BOSH_OPEN=0
      condition="$(bosh_attr "$head" condition || true)"
      BOSH_TERMINATE="${condition:-none given}"
      # XEP-0206 8: the stream error that ended the session, if any.
      if [[ "$text" =~ $stream_error_re ]]; then
        BOSH_TERMINATE+=" (stream error: $(bosh_first_child "${BASH_REMATCH[2]}" || printf 'unknown'))"
      fi
      # XEP-0124 17.2: what an operator most likely did.
      case "$condition" in
        item-not-found) BOSH_TERMINATE+=' (no such session: ended, expired after inactivity, or a wrong SID or RID)' ;;
        host-unknown) BOSH_TERMINATE+=" (the server does not serve the domain '$BOSH_DOMAIN'; see -d)" ;;
      esac
      ;;
  esac
}

# bosh_request STEP PAYLOAD [ATTRS]: the next request of the session. Fails the
# step if the server ends the session.
bosh_request() {
  local rid="$BOSH_RID"
  BOSH_RID=$((BOSH_RID + 1))
  bosh_post "$1" "$(bosh_body " rid='$rid' sid='$(bosh_xml_escape "$BOSH_SID")'${3:-}" "$2")"
  [[ -z "$BOSH_TERMINATE" ]] || bosh_fail "$1" "the server terminated the session: condition=$BOSH_TERMINATE"
}

# bosh_poll_until STEP WHAT NAME...: empty requests until one of the elements
# NAME is in BOSH_INBOX, for at most BOSH_STEP_SECONDS.
bosh_poll_until() {
  local step="$1" what="$2" deadline name
  shift 2
  deadline=$((SECONDS + BOSH_STEP_SECONDS))
  for (( ; ; )); do
    for name in "$@"; do
      bosh_find "$name" && return 0
    done
    if ((SECONDS >= deadline)); then
      bosh_fail "$step" "no $what within ${BOSH_STEP_SECONDS}s; last answer: $(bosh_excerpt "$BOSH_RESPONSE")"
    fi
    bosh_request "$step" ''
  done
}

# bosh_poll_for_id STEP WHAT NAME ID: as bosh_poll_until, for <NAME id='ID'>.
bosh_poll_for_id() {
  local step="$1" what="$2" name="$3" id="$4" deadline
  deadline=$((SECONDS + BOSH_STEP_SECONDS))
  until bosh_find "$name" "$id"; do
    if ((SECONDS >= deadline)); then
      bosh_fail "$step" "no $what within ${BOSH_STEP_SECONDS}s; last answer: $(bosh_excerpt "$BOSH_RESPONSE")"
    fi
    bosh_request "$step" ''
  done
}

# ---------------------------------------------------------------- steps

# XEP-0124 7.1, XEP-0206 5: session creation request, with a random first rid.
bosh_create() {
  local rid attrs head
  rid="$(bosh_random_rid)"
  BOSH_RID=$((rid + 1))
  BOSH_INBOX=''
  attrs=" rid='$rid' to='$(bosh_xml_escape "$BOSH_DOMAIN")' xml:lang='en' wait='$BOSH_WAIT' hold='1'"
  attrs+=" ver='1.6' xmpp:version='1.0' xmlns:xmpp='$NS_XBOSH'"
  bosh_post 'create session' "$(bosh_body "$attrs")"
  [[ -z "$BOSH_TERMINATE" ]] || bosh_fail 'create session' "refused: condition=$BOSH_TERMINATE"
  bosh_find 'body'
  head="$BOSH_TAG"
  BOSH_SID="$(bosh_attr "$head" sid || true)"
  [[ -n "$BOSH_SID" ]] || bosh_fail 'create session' "no sid in the answer: $(bosh_excerpt "$BOSH_RESPONSE")"
  BOSH_OPEN=1
  # XEP-0124 7.2: the server's wait is the one that counts from now on.
  local wait hold requests inactivity
  wait="$(bosh_attr "$head" wait || true)"
  hold="$(bosh_attr "$head" hold || true)"
  requests="$(bosh_attr "$head" requests || true)"
  inactivity="$(bosh_attr "$head" inactivity || true)"
  [[ "$wait" =~ ^[0-9]+$ ]] && BOSH_WAIT="$wait"
  bosh_ok "session created sid=$BOSH_SID wait=${wait:-?} hold=${hold:-?} requests=${requests:-?} inactivity=${inactivity:-?} ($BOSH_URL)"
}

# XEP-0206 6, RFC 6120 6.4: the features may come in the creation response or
# in a later one; PLAIN must be offered.
bosh_auth_plain() {
  local user="$1" password="$2" token condition text_re='<text[^>]*>([^<]*)</text>'
  bosh_poll_until 'stream features' 'stream features with SASL mechanisms' 'mechanisms'
  local plain_re='<([[:alnum:]_.-]+:)?mechanism>[[:space:]]*PLAIN[[:space:]]*</'
  [[ "$BOSH_REST" =~ $plain_re ]] ||
    bosh_fail 'stream features' "SASL PLAIN is not offered: $(bosh_excerpt "$BOSH_TAG${BOSH_REST%%</mechanisms>*}")"
  bosh_ok 'stream features: SASL PLAIN offered'

  # RFC 4616: authzid (empty) NUL authcid NUL password.
  token="$(printf '\0%s\0%s' "$user" "$password" | base64 | tr -d '\n')"
  BOSH_INBOX=''
  bosh_request 'sasl' "<auth xmlns='$NS_SASL' mechanism='PLAIN'>$token</auth>"
  bosh_poll_until 'sasl' 'SASL outcome' 'success' 'failure'
  if bosh_find 'failure'; then
    condition="$(bosh_first_child "$BOSH_REST" || printf 'unknown')"
    local detail=''
    if [[ "${BOSH_REST%%</failure>*}" =~ $text_re ]]; then
      detail=" ($(bosh_xml_unescape "${BASH_REMATCH[1]}"))"
    fi
    bosh_fail 'sasl' "authentication as $user failed: $condition$detail"
  fi
  bosh_ok "authenticated as $user (SASL PLAIN)"
}

# XEP-0206 5: restart the stream after SASL success; the new features follow.
bosh_restart() {
  BOSH_INBOX=''
  bosh_request 'restart' '' " to='$(bosh_xml_escape "$BOSH_DOMAIN")' xml:lang='en' xmpp:restart='true' xmlns:xmpp='$NS_XBOSH'"
  bosh_poll_until 'restart' 'stream features after the restart' 'bind'
  BOSH_FEATURES="$BOSH_INBOX"
  bosh_ok 'stream restarted'
}

# RFC 6120 7: resource binding (RESOURCE empty: the server picks one).
bosh_bind() {
  local resource="${1:-}" payload jid_re='<jid>([^<]*)</jid>' reply
  if [[ -n "$resource" ]]; then
    payload="<bind xmlns='$NS_BIND'><resource>$(bosh_xml_escape "$resource")</resource></bind>"
  else
    payload="<bind xmlns='$NS_BIND'/>"
  fi
  BOSH_INBOX=''
  bosh_request 'bind' "<iq xmlns='jabber:client' type='set' id='bind_1'>$payload</iq>"
  bosh_poll_for_id 'bind' 'bind result' 'iq' 'bind_1'
  reply="${BOSH_REST%%</iq>*}"
  if [[ "$(bosh_attr "$BOSH_TAG" type || true)" != result ]]; then
    bosh_fail 'bind' "the server refused: $(bosh_stanza_error "$reply")"
  fi
  [[ "$reply" =~ $jid_re ]] || bosh_fail 'bind' "no jid in the bind result: $(bosh_excerpt "$BOSH_TAG$reply")"
  BOSH_JID="$(bosh_xml_unescape "${BASH_REMATCH[1]}")"
  bosh_ok "bound $BOSH_JID"
}

# RFC 3921 3 (session establishment), only where the server still requires it:
# RFC 6121 servers either omit the feature or mark it <optional/>.
bosh_session_iq() {
  local session_re="<session[[:space:]]+xmlns=['\"]${NS_SESSION}['\"][[:space:]]*(/>|>[[:space:]]*(<optional)?)"
  if ! [[ "$BOSH_FEATURES" =~ $session_re ]]; then
    return 0
  fi
  if [[ "${BASH_REMATCH[2]}" == '<optional' ]]; then
    bosh_ok 'session iq not needed (advertised as optional)'
    return 0
  fi
  BOSH_INBOX=''
  bosh_request 'session' "<iq xmlns='jabber:client' type='set' id='sess_1'><session xmlns='$NS_SESSION'/></iq>"
  bosh_poll_for_id 'session' 'session result' 'iq' 'sess_1'
  if [[ "$(bosh_attr "$BOSH_TAG" type || true)" != result ]]; then
    bosh_fail 'session' "the server refused: $(bosh_stanza_error "${BOSH_REST%%</iq>*}")"
  fi
  bosh_ok 'session established'
}

# STANZA followed by an XEP-0199 ping in one request. The server handles a
# stream's stanzas in order, so its answer to the ping (result or error, either
# will do) shows it has processed STANZA; and with hold='1' the request is
# answered at once instead of being held for `wait` seconds. The ping has no
# 'to': the server answers for the account (RFC 6120 10.3.3), so this works
# without knowing the domain.
bosh_send_with_ping() {
  local step="$1" stanza="$2" id="ping_$BOSH_RID"
  BOSH_INBOX=''
  bosh_request "$step" "$stanza<iq xmlns='jabber:client' type='get' id='$id'><ping xmlns='urn:xmpp:ping'/></iq>"
  bosh_poll_for_id "$step" 'answer to the ping sent after it' 'iq' "$id"
}

# RFC 6121 4.2: initial presence.
bosh_presence() {
  bosh_send_with_ping 'presence' "<presence xmlns='jabber:client'/>"
  bosh_ok 'presence sent'
}

# bosh_message TO TEXT: a chat message; sets BOSH_MESSAGE_ID.
bosh_message() {
  local to="$1" text="$2"
  BOSH_MESSAGE_ID="msg_$BOSH_RID"
  bosh_send_with_ping 'message' "<message xmlns='jabber:client' type='chat' id='$BOSH_MESSAGE_ID' to='$(bosh_xml_escape "$to")'><body>$(bosh_xml_escape "$text")</body></message>"
  bosh_ok "message sent to $to (id=$BOSH_MESSAGE_ID)"
}

# bosh_expect_message ID TEXT: waits for the message with this id (one sent to
# ourselves) and checks its body.
bosh_expect_message() {
  local id="$1" text="$2" stanza got body_re='<([[:alnum:]_.-]+:)?body(>|[[:space:]][^>]*>)([^<]*)</'
  bosh_poll_for_id 'receive' "message $id back" 'message' "$id"
  stanza="${BOSH_REST%%</message>*}"
  [[ "$stanza" =~ $body_re ]] || bosh_fail 'receive' "message $id came back without a body: $(bosh_excerpt "$BOSH_TAG$stanza")"
  got="$(bosh_xml_unescape "${BASH_REMATCH[3]}")"
  [[ "$got" == "$text" ]] || bosh_fail 'receive' "message $id came back changed: $(bosh_excerpt "$got")"
  bosh_ok "message $id came back intact"
}

# XEP-0124 13, XEP-0206 8: terminate, with unavailable presence. The server
# answers with an empty body or one of type='terminate'.
bosh_terminate() {
  local rid="$BOSH_RID"
  BOSH_RID=$((BOSH_RID + 1))
  BOSH_OPEN=0
  bosh_post 'logout' "$(bosh_body " rid='$rid' sid='$(bosh_xml_escape "$BOSH_SID")' type='terminate'" \
    "<presence xmlns='jabber:client' type='unavailable'/>")"
  case "$BOSH_TERMINATE" in
    '' | 'none given') bosh_ok "logged out (session $BOSH_SID terminated)" ;;
    *) bosh_fail 'logout' "the server answered the terminate with condition=$BOSH_TERMINATE" ;;
  esac
}

# After a failure: terminate quietly, briefly, ignoring the outcome.
bosh_abort() {
  local -a curl_args=(--silent --output /dev/null --request POST --data-binary @-
    --header 'Content-Type: text/xml; charset=utf-8' --max-time "$BOSH_ABORT_SECONDS")
  ((BOSH_INSECURE == 0)) || curl_args+=(--insecure)
  printf '     terminating session %s\n' "$BOSH_SID" >&2
  bosh_body " rid='$BOSH_RID' sid='$(bosh_xml_escape "$BOSH_SID")' type='terminate'" |
    curl "${curl_args[@]}" -- "$BOSH_URL" || true
}

# create, SASL PLAIN, restart, bind, session if required.
bosh_login() {
  bosh_create
  bosh_auth_plain "$1" "$2"
  bosh_restart
  bosh_bind "${3:-}"
  bosh_session_iq
}

# ---------------------------------------------------------------- command line

# bosh_parse_options OPTSTRING ARGS...: the options the entry scripts share,
# those in OPTSTRING only (e.g. "u:d:w:t:r:kvh"). usage() must be defined.
# Positional arguments end up in BOSH_ARGS.
# The options of the scripts that log in (check.sh, login.sh: optstring u:d:r:w:t:kvh), for their usage.
bosh_login_options_help() {
  cat <<'EOF'
Options:
  -u URL       BOSH endpoint           default http://127.0.0.1:5280/http-bind
  -d DOMAIN    XMPP domain             default localhost
  -r RESOURCE  resource to bind        default: the server picks one
  -w SECONDS   longest time the server may hold a request (BOSH wait), default 10
  -t SECONDS   give up on a step after this long, default 30
  -k           accept any TLS certificate (curl --insecure)
  -v           print every request and response body (the SASL token hidden)
  -h           this help
EOF
}

bosh_parse_options() {
  local optstring="$1" opt
  shift
  OPTIND=1
  while getopts ":$optstring" opt; do
    case "$opt" in
      u) BOSH_URL="$OPTARG" ;;
      d) BOSH_DOMAIN="$OPTARG"; BOSH_DOMAIN_SET=1 ;;
      w) [[ "$OPTARG" =~ ^[1-9][0-9]{0,3}$ ]] || bosh_usage_error "-w needs a number of seconds (1-9999): $OPTARG"
         BOSH_WAIT="$OPTARG" ;;
      t) [[ "$OPTARG" =~ ^[1-9][0-9]{0,3}$ ]] || bosh_usage_error "-t needs a number of seconds (1-9999): $OPTARG"
         BOSH_STEP_SECONDS="$OPTARG" ;;
      r) BOSH_RESOURCE="$OPTARG" ;;
      k) BOSH_INSECURE=1 ;;
      v) BOSH_VERBOSE=1 ;;
      h) usage; exit 0 ;;
      :) bosh_usage_error "-$OPTARG needs a value" ;;
      *) bosh_usage_error "unknown option -$OPTARG" ;;
    esac
  done
  shift $((OPTIND - 1))
  BOSH_ARGS=("$@")
  [[ "$BOSH_URL" =~ ^https?://[^/] ]] || bosh_usage_error "-u needs an http:// or https:// URL: $BOSH_URL"
  command -v curl >/dev/null 2>&1 || bosh_usage_error 'curl is not installed'
}

# bosh_user_arg USER: "name" or "name@domain" (which sets the domain unless -d
# did). Sets BOSH_USER.
bosh_user_arg() {
  BOSH_USER="$1"
  if [[ "$1" == *@* ]]; then
    BOSH_USER="${1%%@*}"
    ((BOSH_DOMAIN_SET == 1)) || BOSH_DOMAIN="${1#*@}"
  fi
  [[ -n "$BOSH_USER" && -n "$BOSH_DOMAIN" ]] || bosh_usage_error "bad user: $1"
}

# A recipient: a bare name means NAME@DOMAIN.
bosh_jid_arg() {
  if [[ "$1" == *@* ]]; then printf '%s' "$1"; else printf '%s@%s' "$1" "$BOSH_DOMAIN"; fi
}

# bosh_session_args SID RID: resumes a session made by login.sh.
bosh_session_args() {
  [[ -n "$1" ]] || bosh_usage_error 'SID is empty'
  [[ "$2" =~ ^[1-9][0-9]{0,15}$ ]] || bosh_usage_error "RID must be a number: $2"
  BOSH_SID="$1"
  BOSH_RID="$2"
}

# bosh_password_arg PASSWORD: "-" reads it from the first line of stdin, which
# keeps it out of ps and the shell history. Sets BOSH_PASSWORD.
bosh_password_arg() {
  BOSH_PASSWORD="$1"
  if [[ "$1" == - ]]; then
    IFS= read -r BOSH_PASSWORD || [[ -n "$BOSH_PASSWORD" ]] || bosh_usage_error 'PASSWORD is -, but stdin is empty'
  fi
}
