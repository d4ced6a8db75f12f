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
#   BOSH_BODY  the request body bosh_session_body made last

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
BOSH_BODY=''
BOSH_CURL_ARGS=()
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

# The five predefined entities (XML 1.0 4.6), & first: escaping replaces it
# before the others, unescaping after them.
readonly -a BOSH_XML_CHARS=('&' '<' '>' "'" '"')
readonly -a BOSH_XML_ENTITIES=('&amp;' '&lt;' '&gt;' '&apos;' '&quot;')

# Text and attribute values: & < > ' " (bash 5.2 would read a bare & in the
# replacement as "the match", hence the quotes).
bosh_xml_escape() {
  local s="$1" i
  for i in 0 1 2 3 4; do s="${s//"${BOSH_XML_CHARS[i]}"/"${BOSH_XML_ENTITIES[i]}"}"; done
  printf '%s' "$s"
}

bosh_xml_unescape() {
  local s="$1" i
  for i in 4 3 2 1 0; do s="${s//"${BOSH_XML_ENTITIES[i]}"/"${BOSH_XML_CHARS[i]}"}"; done
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

# bosh_curl_args MAX_SECONDS: sets BOSH_CURL_ARGS to a POST of the body on
# stdin (it holds the SASL token, which must not show in ps) to BOSH_URL.
bosh_curl_args() {
  BOSH_CURL_ARGS=(--silent --request POST --data-binary @-
    --header 'Content-Type: text/xml; charset=utf-8' --max-time "$1")
  ((BOSH_INSECURE == 0)) || BOSH_CURL_ARGS+=(--insecure)
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
  max_seconds=$((BOSH_WAIT + BOSH_SLACK_SECONDS))
  bosh_curl_args "$max_seconds"
  bosh_trace '>>>' "$body"
  out="$(printf '%s' "$body" | curl "${BOSH_CURL_ARGS[@]}" --connect-timeout "$BOSH_CONNECT_SECONDS" \
    --write-out '\n%{http_code} %{num_connects}' -- "$BOSH_URL")" || code=$?
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

# bosh_session_body ATTRS [PAYLOAD]: sets BOSH_BODY to the session's next
# request (taking BOSH_RID and adding 1), with ATTRS after rid and sid.
bosh_session_body() {
  BOSH_BODY="$(bosh_body " rid='$BOSH_RID' sid='$(bosh_xml_escape "$BOSH_SID")'$1" "${2:-}")"
  BOSH_RID=$((BOSH_RID + 1))
}

# bosh_request STEP PAYLOAD [ATTRS]: the next request of the session. Fails the
# step if the server ends the session.
bosh_request() {
  bosh_session_body "${3:-}" "$2"
  bosh_post "$1" "$BOSH_BODY"
  [[ -z "$BOSH_TERMINATE" ]] || bosh_fail "$1" "the server terminated the session: condition=$BOSH_TERMINATE"
}

# bosh_poll_until STEP WHAT ID NAME...: empty requests until one of the
# elements NAME (with id=ID unless ID is empty) is in BOSH_INBOX, for at most
# BOSH_STEP_SECONDS.
bosh_poll_until() {
  local step="$1" what="$2" id="$3" deadline name
  shift 3
  deadline=$((SECONDS + BOSH_STEP_SECONDS))
  for (( ; ; )); do
    for name in "$@"; do
      bosh_find "$name" "$id" && return 0
    done
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
  bosh_poll_until 'stream features' 'stream features with SASL mechanisms' '' 'mechanisms'
  local plain_re='<([[:alnum:]_.-]+:)?mechanism>[[:space:]]*PLAIN[[:space:]]*</'
  [[ "$BOSH_REST" =~ $plain_re ]] ||
    bosh_fail 'stream features' "SASL PLAIN is not offered: $(bosh_excerpt "$BOSH_TAG${BOSH_REST%%</mechanisms>*}")"
  bosh_ok 'stream features: SASL PLAIN offered'

  # RFC 4616: authzid (empty) NUL authcid NUL password.
  token="$(printf '\0%s\0%s' "$user" "$password" | base64 | tr -d '\n')"
  BOSH_INBOX=''
  bosh_request 'sasl' "<auth xmlns='$NS_SASL' mechanism='PLAIN'>$token</auth>"
  bosh_poll_until 'sasl' 'SASL outcome' '' 'success' 'failure'
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
  bosh_poll_until 'restart' 'stream features after the restart' '' 'bind'
  BOSH_FEATURES="$BOSH_INBOX"
  bosh_ok 'stream restarted'
}

# bosh_iq_set STEP WHAT ID PAYLOAD: an iq of type set (RFC 6120 8.2.3) and its
# result; BOSH_TAG and BOSH_REST are then the result's. Fails the step with the
# stanza error if the server refuses.
bosh_iq_set() {
  BOSH_INBOX=''
  bosh_request "$1" "<iq xmlns='jabber:client' type='set' id='$3'>$4</iq>"
  bosh_poll_until "$1" "$2" "$3" 'iq'
  if [[ "$(bosh_attr "$BOSH_TAG" type || true)" != result ]]; then
    bosh_fail "$1" "the server refused: $(bosh_stanza_error "${BOSH_REST%%</iq>*}")"
  fi
}

# RFC 6120 7: resource binding (RESOURCE empty: the server picks one).
bosh_bind() {
  local resource="${1:-}" payload jid_re='<jid>([^<]*)</jid>' reply
  if [[ -n "$resource" ]]; then
    payload="<bind xmlns='$NS_BIND'><resource>$(bosh_xml_escape "$resource")</resource></bind>"
  else
    payload="<bind xmlns='$NS_BIND'/>"
  fi
  bosh_iq_set 'bind' 'bind result' 'bind_1' "$payload"
  reply="${BOSH_REST%%</iq>*}"
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
  bosh_iq_set 'session' 'session result' 'sess_1' "<session xmlns='$NS_SESSION'/>"
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
  bosh_poll_until "$step" 'answer to the ping sent after it' "$id" 'iq'
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
  bosh_poll_until 'receive' "message $id back" "$id" 'message'
  stanza="${BOSH_REST%%</message>*}"
  [[ "$stanza" =~ $body_re ]] || bosh_fail 'receive' "message $id came back without a body: $(bosh_excerpt "$BOSH_TAG$stanza")"
  got="$(bosh_xml_unescape "${BASH_REMATCH[3]}")"
  [[ "$got" == "$text" ]] || bosh_fail 'receive' "message $id came back changed: $(bosh_excerpt "$got")"
  bosh_ok "message $id came back intact"
}

# XEP-0124 13, XEP-0206 8: terminate, with unavailable presence. The server
# answers with an empty body or one of type='terminate'.
bosh_terminate() {
  BOSH_OPEN=0
  bosh_session_body " type='terminate'" "<presence xmlns='jabber:client' type='unavailable'/>"
  bosh_post 'logout' "$BOSH_BODY"
  case "$BOSH_TERMINATE" in
    '' | 'none given') bosh_ok "logged out (session $BOSH_SID terminated)" ;;
    *) bosh_fail 'logout' "the server answered the terminate with condition=$BOSH_TERMINATE" ;;
  esac
}

# After a failure: terminate quietly, briefly, ignoring the outcome.
bosh_abort() {
  printf '     terminating session %s\n' "$BOSH_SID" >&2
  bosh_curl_args "$BOSH_ABORT_SECONDS"
  bosh_session_body " type='terminate'"
  printf '%s' "$BOSH_BODY" | curl "${BOSH_CURL_ARGS[@]}" --output /dev/null -- "$BOSH_URL" || true
}

# bosh_login USER PASSWORD: the command line's USER and PASSWORD operands,
# then create, SASL PLAIN, restart, bind (BOSH_RESOURCE), session if
# required, initial presence.
bosh_login() {
  bosh_user_arg "$1"
  bosh_password_arg "$2"
  bosh_create
  bosh_auth_plain "$BOSH_USER" "$BOSH_PASSWORD"
  bosh_restart
  bosh_bind "$BOSH_RESOURCE"
  bosh_session_iq
  bosh_presence
}

# ---------------------------------------------------------------- command line

# bosh_option LETTER: sets BOSH_OPTION_VALUE (the name of the option's value,
# empty for a flag) and BOSH_OPTION_TEXT (its line in a usage) for one of the
# options the entry scripts share.
bosh_option() {
  BOSH_OPTION_VALUE=''
  case "$1" in
    u) BOSH_OPTION_VALUE=URL BOSH_OPTION_TEXT="BOSH endpoint           default $BOSH_DEFAULT_URL" ;;
    d) BOSH_OPTION_VALUE=DOMAIN BOSH_OPTION_TEXT="XMPP domain             default $BOSH_DEFAULT_DOMAIN" ;;
    r) BOSH_OPTION_VALUE=RESOURCE BOSH_OPTION_TEXT='resource to bind        default: the server picks one' ;;
    w) BOSH_OPTION_VALUE=SECONDS BOSH_OPTION_TEXT="longest time the server may hold a request (BOSH wait), default $BOSH_DEFAULT_WAIT" ;;
    t) BOSH_OPTION_VALUE=SECONDS BOSH_OPTION_TEXT="give up on a step after this long, default $BOSH_DEFAULT_STEP_SECONDS" ;;
    k) BOSH_OPTION_TEXT='accept any TLS certificate (curl --insecure)' ;;
    v) BOSH_OPTION_TEXT='print every request and response body (the SASL token hidden)' ;;
    h) BOSH_OPTION_TEXT='this help' ;;
  esac
}

# bosh_options_help LETTERS [L=TEXT...]: the "Options:" block of a usage, one
# line per option of LETTERS (e.g. "udtkvh"), in that order; L=TEXT words
# option L this script's way.
bosh_options_help() {
  local letters="$1" letter word i
  shift
  printf 'Options:\n'
  for ((i = 0; i < ${#letters}; i++)); do
    letter="${letters:i:1}"
    bosh_option "$letter"
    for word in "$@"; do
      [[ "$word" != "$letter="* ]] || BOSH_OPTION_TEXT="${word#*=}"
    done
    printf '  %-12s %s\n' "-$letter $BOSH_OPTION_VALUE" "$BOSH_OPTION_TEXT"
  done
}

# bosh_run LETTERS OPERANDS ARGS...: reads the options of LETTERS from ARGS,
# checks the operands left against OPERANDS ("SID RID", or "USER PASSWORD
# [TO [MESSAGE]]" with optional ones in brackets) and calls main with them.
bosh_run() {
  local letters="$1" operands="$2" words min max
  shift 2
  bosh_parse_options "$letters" "$@"
  set -- "${BOSH_ARGS[@]+"${BOSH_ARGS[@]}"}"
  read -ra words <<<"${operands%%[*}"
  min=${#words[@]}
  read -ra words <<<"${operands//[][]/}"
  max=${#words[@]}
  (($# >= min && $# <= max)) || bosh_usage_error "expected $operands"
  main "$@"
}

# bosh_parse_options LETTERS ARGS...: the options of LETTERS (see bosh_option).
# usage() must be defined. The operands end up in BOSH_ARGS.
bosh_parse_options() {
  local letters="$1" optstring='' opt i
  shift
  for ((i = 0; i < ${#letters}; i++)); do
    bosh_option "${letters:i:1}"
    optstring+="${letters:i:1}${BOSH_OPTION_VALUE:+:}"
  done
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
