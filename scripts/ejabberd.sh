#!/usr/bin/env bash
# Runs a private ejabberd for Megaphone development and tests: its own config,
# Mnesia spool, logs, node name and cookie under one state directory, listening
# on 127.0.0.1 only. The system ejabberd service and its files are never used.
#
# The VM is started directly with erl, as ejabberdctl would start it, but as the
# current user: ejabberdctl run as root `su`s to the ejabberd user, which resets
# the open-file limit to 1024. Control commands talk to the node with erl_call.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/ejabberd.sh COMMAND [ARGS] [OPTIONS]

Commands:
  start                          render the config, start ejabberd detached, wait until it runs
  stop [--now]                   stop it (bounded wait, then SIGTERM, then SIGKILL); --now
                                 kills it at once, for a server whose state is thrown
                                 away (the test teardown)
  status                         exit 0 if running, 3 if not, 1 if the VM does not answer
  register NAME PASSWORD         create NAME@DOMAIN (or reset its password)
  register-bulk PREFIX COUNT PASSWORD
                                 create PREFIX1..PREFIXCOUNT in one call
  unregister NAME                remove NAME@DOMAIN
  users                          print every account, NAME@DOMAIN, one a line
  connected                      print ejabberd_sm:connected_users_number()
  sessions [PREFIX]              print the number of sessions whose user starts with PREFIX
  ctl FUNCTION [ARG...]          call megaphone_ctl:FUNCTION (ejabberd/src/megaphone_ctl.erl)
                                 with each ARG as a binary; print the result as JSON.
                                 Put -- before the function if an ARG starts with -
  eval 'EXPRS.'                  evaluate Erlang expressions on the node, print the value
  env [--json]                   print shell-sourceable KEY=VALUE lines describing the server
                                 (or one JSON object, as the test setup uses)

Options (each also read from the environment variable shown; start only, except --state):
  --state DIR        state directory           MEGAPHONE_EJABBERD_STATE     <project>/.state/ejabberd
  --c2s-port N       client-to-server port     MEGAPHONE_EJABBERD_C2S_PORT  5222
  --http-port N      BOSH (/http-bind) and websocket (/ws) port
                                               MEGAPHONE_EJABBERD_HTTP_PORT 5443
  --link-port N      megaphone_listener port   MEGAPHONE_LINK_PORT          5899
  --secret S         link secret               MEGAPHONE_LINK_SECRET        generated once into DIR/secret
  --domain D         XMPP domain               MEGAPHONE_EJABBERD_DOMAIN    localhost
  --no-link          leave megaphone_listener out of the config
                                               MEGAPHONE_EJABBERD_NO_LINK=1
  --timeout SECONDS  how long start waits      MEGAPHONE_EJABBERD_START_TIMEOUT 60
  --owner-pid PID    stop the server when process PID exits (used by the test setup)
  -h, --help         this help

Other environment: MEGAPHONE_EJABBERD_CALL_TIMEOUT (seconds per control call,
default 30), MEGAPHONE_EJABBERDCTL (the file whose presence means "ejabberd is
installed", default /usr/sbin/ejabberdctl), MEGAPHONE_EJABBERD_EBIN (ejabberd's
ebin directory, default found with dpkg -L ejabberd), MEGAPHONE_EJABBERD_ERL_FLAGS
(emulator flags, default "+sbwt none +sbwtdcpu none +sbwtdio none": idle
schedulers sleep instead of spinning, which on a machine shared with Megaphone
and its clients takes CPU from them).

Examples:
  bash scripts/ejabberd.sh start && bash scripts/ejabberd.sh register-bulk user 1000 secret
  bash scripts/ejabberd.sh ctl user_ip user1 localhost web    # {"ip":"127.0.0.1","port":50412}
  eval "$(bash scripts/ejabberd.sh env)"
EOF
}

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
readonly PROJECT_ROOT
readonly TEMPLATE="$PROJECT_ROOT/scripts/ejabberd.yml.template"
readonly MODULE_DIR="$PROJECT_ROOT/ejabberd"
readonly MODULE_EBIN="$MODULE_DIR/ebin"
readonly INSTALL_HINT="ejabberd is not installed: run 'apt-get install -y ejabberd erlang-dev' (Debian)"
readonly EJABBERDCTL="${MEGAPHONE_EJABBERDCTL:-/usr/sbin/ejabberdctl}"
readonly CALL_TIMEOUT_SECONDS="${MEGAPHONE_EJABBERD_CALL_TIMEOUT:-30}"
# Registering many users in one call can take longer than an ordinary call.
readonly BULK_TIMEOUT_SECONDS=600
readonly STOP_WAIT_SECONDS=30
readonly KILL_WAIT_SECONDS=10
# Erlang process limit, as ejabberdctl sets it (+P).
readonly ERL_PROCESSES=250000
# Idle schedulers sleep rather than spin (busy-wait) before sleeping: the
# server shares its cores with Megaphone and the clients (tests, benchmarks),
# and spinning takes CPU from them.
read -r -a ERL_FLAGS <<<"${MEGAPHONE_EJABBERD_ERL_FLAGS-+sbwt none +sbwtdcpu none +sbwtdio none}"
readonly ERL_FLAGS

die() {
  printf 'ejabberd.sh: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- options

STATE_DIR="${MEGAPHONE_EJABBERD_STATE:-$PROJECT_ROOT/.state/ejabberd}"
OPT_C2S_PORT="${MEGAPHONE_EJABBERD_C2S_PORT:-5222}"
OPT_HTTP_PORT="${MEGAPHONE_EJABBERD_HTTP_PORT:-5443}"
OPT_LINK_PORT="${MEGAPHONE_LINK_PORT:-5899}"
OPT_SECRET="${MEGAPHONE_LINK_SECRET:-}"
OPT_DOMAIN="${MEGAPHONE_EJABBERD_DOMAIN:-localhost}"
OPT_LINK=on
[[ "${MEGAPHONE_EJABBERD_NO_LINK:-}" == 1 ]] && OPT_LINK=off
OPT_START_TIMEOUT="${MEGAPHONE_EJABBERD_START_TIMEOUT:-60}"
OPT_OWNER_PID=""

ARGS=()
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --state) STATE_DIR="${2:?--state needs a directory}"; shift 2 ;;
    --c2s-port) OPT_C2S_PORT="${2:?--c2s-port needs a port}"; shift 2 ;;
    --http-port) OPT_HTTP_PORT="${2:?--http-port needs a port}"; shift 2 ;;
    --link-port) OPT_LINK_PORT="${2:?--link-port needs a port}"; shift 2 ;;
    --secret) OPT_SECRET="${2:?--secret needs a value}"; shift 2 ;;
    --domain) OPT_DOMAIN="${2:?--domain needs a domain}"; shift 2 ;;
    --no-link) OPT_LINK=off; shift ;;
    --json | --now) ARGS+=("$1"); shift ;;
    --timeout) OPT_START_TIMEOUT="${2:?--timeout needs seconds}"; shift 2 ;;
    --owner-pid) OPT_OWNER_PID="${2:?--owner-pid needs a pid}"; shift 2 ;;
    --) shift; ARGS+=("$@"); break ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# ---------------------------------------------------------------- installation

EJABBERD_EBIN=""
ERL=""
ERL_CALL=""
EPMD=""

find_ejabberd_ebin() {
  if [[ -n "${MEGAPHONE_EJABBERD_EBIN:-}" ]]; then
    printf '%s\n' "$MEGAPHONE_EJABBERD_EBIN"
  elif command -v dpkg >/dev/null 2>&1; then
    dpkg -L ejabberd 2>/dev/null | grep -E '/ejabberd-[^/]+/ebin$' | head -n 1 || true
  fi
}

find_erl_call() {
  local candidate
  if command -v erl_call >/dev/null 2>&1; then
    command -v erl_call
    return
  fi
  for candidate in /usr/lib/erlang/lib/erl_interface-*/bin/erl_call; do
    [[ -x "$candidate" ]] && { printf '%s\n' "$candidate"; return; }
  done
}

require_ejabberd() {
  [[ -x "$EJABBERDCTL" ]] || die "$INSTALL_HINT ($EJABBERDCTL not found)"
  EJABBERD_EBIN="$(find_ejabberd_ebin)"
  [[ -n "$EJABBERD_EBIN" && -f "$EJABBERD_EBIN/ejabberd.app" ]] ||
    die "$INSTALL_HINT (no ejabberd ebin directory found with dpkg -L ejabberd)"
  ERL="$(command -v erl || true)"
  [[ -n "$ERL" ]] || die "$INSTALL_HINT (erl not found)"
  ERL_CALL="$(find_erl_call)"
  [[ -n "$ERL_CALL" ]] || die "$INSTALL_HINT (erl_call not found)"
  EPMD="$(command -v epmd || true)"
  [[ -n "$EPMD" ]] || die "$INSTALL_HINT (epmd not found)"
  command -v flock >/dev/null 2>&1 || die "flock not found: run 'apt-get install -y util-linux'"
}

# ---------------------------------------------------------------- state

# Everything the control commands need is in the state directory; the flags
# above only matter to `start`.
NODE=""
COOKIE=""
SECRET=""
C2S_PORT=""
HTTP_PORT=""
LINK_PORT=""
DOMAIN=""
LINK=""

absolute_state_dir() {
  [[ -d "$STATE_DIR" ]] || return 1
  STATE_DIR="$(cd "$STATE_DIR" && pwd -P)"
}

settings_file() { printf '%s/settings' "$STATE_DIR"; }
beam_pid_file() { printf '%s/beam.pid' "$STATE_DIR"; }
log_dir() { printf '%s/log' "$STATE_DIR"; }
log_file() { printf '%s/log/ejabberd.log' "$STATE_DIR"; }

# One node name per state directory, so that several servers (a developer's and
# each test run's) coexist in one epmd.
node_name_for() {
  local hash
  hash="$(printf '%s' "$1" | sha1sum | cut -c1-8)"
  printf 'megaphone-%s@localhost' "$hash"
}

write_settings() {
  local file
  file="$(settings_file)"
  {
    printf 'NODE=%s\n' "$NODE"
    printf 'C2S_PORT=%s\n' "$C2S_PORT"
    printf 'HTTP_PORT=%s\n' "$HTTP_PORT"
    printf 'LINK_PORT=%s\n' "$LINK_PORT"
    printf 'DOMAIN=%s\n' "$DOMAIN"
    printf 'LINK=%s\n' "$LINK"
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

# Parsed, not sourced: the values were validated when they were written.
load_settings() {
  local key value file
  absolute_state_dir || return 1
  file="$(settings_file)"
  [[ -r "$file" && -r "$STATE_DIR/cookie" ]] || return 1
  while IFS='=' read -r key value; do
    case "$key" in
      NODE) NODE="$value" ;;
      C2S_PORT) C2S_PORT="$value" ;;
      HTTP_PORT) HTTP_PORT="$value" ;;
      LINK_PORT) LINK_PORT="$value" ;;
      DOMAIN) DOMAIN="$value" ;;
      LINK) LINK="$value" ;;
    esac
  done <"$file"
  COOKIE="$(<"$STATE_DIR/cookie")"
  SECRET=""
  [[ -r "$STATE_DIR/secret" ]] && SECRET="$(<"$STATE_DIR/secret")"
  [[ -n "$NODE" && -n "$COOKIE" ]]
}

require_settings() {
  load_settings || die "no private ejabberd in $STATE_DIR (start one with: bash scripts/ejabberd.sh start --state $STATE_DIR)"
}

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Serialises start and stop on one state directory (fd 9). Children must not
# inherit fd 9, or they would hold the lock for their lifetime.
lock_state() {
  exec 9>"$STATE_DIR/.lock"
  flock -w 120 9 || die "timed out waiting for another start/stop on $STATE_DIR"
}

# ---------------------------------------------------------------- the VM

# True if PID is alive and is the beam of NODE (guards against pid reuse).
is_our_beam() {
  [[ -n "$1" && -r "/proc/$1/cmdline" ]] || return 1
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$NODE"
}

beam_pid() {
  local file pid
  file="$(beam_pid_file)"
  [[ -r "$file" ]] || return 1
  pid="$(<"$file")"
  is_our_beam "$pid" || return 1
  printf '%s\n' "$pid"
}

# The starting VM is this script's child: once dead it is a zombie until we exit.
child_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

node_registered() {
  "$EPMD" -names 2>/dev/null | grep -q "^name ${NODE%@*} at port "
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# rpc SECONDS SOURCE [FORMAT]: evaluates Erlang expressions on the node and
# prints the value: as ~tp (FORMAT term, the default), or as the text it is
# (FORMAT text: the value is a UTF-8 binary). Each call names its erl_call node
# explicitly: the default and -r names collide when several calls run at once,
# and the node then refuses all but one. SOURCE travels base64-encoded and is
# parsed on the node, so it needs no quoting; the reply travels base64-encoded
# too, because erl_call prints terms in its own escaped format.
rpc() {
  local seconds="$1" source="$2" format="${3:-term}" source_b64 wrapper out payload
  [[ "$format" == term || "$format" == text ]] || die "rpc: bad format: $format"
  [[ "$source" =~ \.[[:space:]]*$ ]] || source="$source."
  source_b64="$(printf '%s' "$source" | base64 -w0)"
  wrapper="begin
  Src = unicode:characters_to_list(base64:decode(<<\"$source_b64\">>)),
  Reply = try
      case erl_scan:string(Src) of
        {ok, Tokens, _} ->
          case erl_parse:parse_exprs(Tokens) of
            {ok, Exprs} ->
              {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
              case $format of
                term -> {ok, io_lib:format(\"~tp\", [Value])};
                text -> {ok, Value}
              end;
            {error, {_, Mod, Desc}} ->
              {error, Mod:format_error(Desc)}
          end;
        {error, {_, Mod, Desc}, _} ->
          {error, Mod:format_error(Desc)}
      end
    catch Class:Reason:Stack ->
      {error, io_lib:format(\"~tp:~tp~n~tp\", [Class, Reason, Stack])}
    end,
  {Tag, Text} = Reply,
  atom_to_list(Tag) ++ \":\" ++ base64:encode_to_string(unicode:characters_to_binary(Text))
end."
  if ! out="$(printf '%s\n' "$wrapper" |
    timeout "$((seconds + 5))" "$ERL_CALL" -h "megaphone_ctl_$$_$RANDOM" -sname "$NODE" -c "$COOKIE" \
      -timeout "$seconds" -e 2>&1)"; then
    printf 'ejabberd.sh: cannot reach node %s: %s\n' "$NODE" "$out" >&2
    return 2
  fi
  case "$out" in
    '{ok, "ok:'*) payload="${out#'{ok, "ok:'}"; printf '%s\n' "$(printf '%s' "${payload%'"}'}" | base64 -d)" ;;
    '{ok, "error:'*)
      payload="${out#'{ok, "error:'}"
      printf 'ejabberd.sh: erlang error: %s\n' "$(printf '%s' "${payload%'"}'}" | base64 -d)" >&2
      return 1
      ;;
    *) printf 'ejabberd.sh: unexpected reply from %s: %s\n' "$NODE" "$out" >&2; return 1 ;;
  esac
}

# An Erlang expression for the binary VALUE (any bytes, no quoting issues).
erl_binary() { printf 'base64:decode(<<"%s">>)' "$(printf '%s' "$1" | base64 -w0)"; }

# ctl_call SECONDS FORMAT FUNCTION [ARG...]: megaphone_ctl:call/3 on the node,
# which applies megaphone_ctl:FUNCTION to the ARGs, each a binary, and prints
# its result in FORMAT: json, or lines (a list, one element a line).
ctl_call() {
  local seconds="$1" format="$2" function="$3" arg args=()
  shift 3
  [[ "$format" == json || "$format" == lines ]] || die "ctl_call: bad format: $format"
  for arg in "$@"; do args+=("$(erl_binary "$arg")"); done
  local IFS=,
  rpc "$seconds" "megaphone_ctl:call($(erl_binary "$function"), [${args[*]}], $format)." text
}

ejabberd_started() {
  [[ "$(ctl_call 10 json started 2>/dev/null)" == true ]]
}

# Asks the module's own Makefile (make -q) whether ebin/ is missing or older
# than the sources, so the rule lives in one place.
module_needs_build() {
  [[ -f "$MODULE_EBIN/megaphone_listener.beam" && -f "$MODULE_EBIN/megaphone_ctl.beam" ]] || return 0
  ! make -q -C "$MODULE_DIR" >/dev/null 2>&1
}

# Always built, link or not: the control commands call megaphone_ctl.
build_module() {
  [[ -f "$MODULE_DIR/Makefile" ]] || die "the ejabberd module's sources are not in $MODULE_DIR"
  mkdir -p "$PROJECT_ROOT/.state"
  # Concurrent starts (parallel test runs) must not run make at the same time.
  (
    flock -w 300 8 || die "timed out waiting for another build of $MODULE_DIR"
    if module_needs_build; then
      printf 'building the ejabberd module: make -C %s\n' "$MODULE_DIR" >&2
      make -C "$MODULE_DIR" >&2 8>&- || die "make -C $MODULE_DIR failed"
    fi
  ) 8>"$PROJECT_ROOT/.state/.build.lock"
  [[ -f "$MODULE_EBIN/megaphone_listener.beam" && -f "$MODULE_EBIN/megaphone_ctl.beam" ]] ||
    die "make -C $MODULE_DIR did not produce megaphone_listener.beam and megaphone_ctl.beam in $MODULE_EBIN"
}

# A double-quoted string, valid both as YAML and as JSON: escape \ and ".
quoted_string() {
  local value="$1"
  [[ "$value" =~ [[:cntrl:]] ]] && die "cannot quote a value with control characters: $2"
  value="${value//\\/\\\\}"
  value="${value//\"/\\\"}"
  printf '"%s"' "$value"
}

# The TLS listeners' certificates (the template's 127.0.0.3 and .4), made
# once per state directory: a private authority, the listener's certificate
# for those addresses, and a client certificate for mutual TLS. P-256 keys,
# ten years: they never leave loopback.
link_tls_files() {
  local dir="$STATE_DIR/link-tls" name ext
  [[ -s "$dir/server.pem" && -s "$dir/client-cert.pem" ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl not found (a dependency of ejabberd): run 'apt-get install -y openssl'"
  rm -rf "$dir" && mkdir -p "$dir"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=Megaphone link test authority" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null || die "openssl could not make the link's test authority"
  for name in server client; do
    if [[ "$name" == server ]]; then
      ext=$'subjectAltName=IP:127.0.0.3,IP:127.0.0.4,DNS:link.megaphone.test\nextendedKeyUsage=serverAuth'
    else
      ext=$'extendedKeyUsage=clientAuth'
    fi
    if ! { openssl req "${ec[@]}" -subj "/CN=megaphone-link-$name" -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" &&
      openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial -days 3650 \
        -extfile <(printf '%s\n' "$ext") -out "$dir/$name-cert.pem"; } 2>/dev/null; then
      die "openssl could not make the link's $name certificate"
    fi
  done
  # ejabberd's certfile holds the chain and the key in one file.
  cat "$dir/server-cert.pem" "$dir/server-key.pem" >"$dir/server.pem"
  rm -f "$dir"/*.csr "$dir/ca.srl"
}

# Lines starting with ### document the template and are not copied; the lines
# between LINK-BEGIN and LINK-END are dropped when the link is off.
render_config() {
  local line secret_yaml skipping=0 out="$STATE_DIR/ejabberd.yml"
  secret_yaml="$(quoted_string "$SECRET" "the link secret")"
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" == '###'* ]] && continue
    if [[ "$line" == *'# LINK-BEGIN'* ]]; then
      [[ "$LINK" == on ]] || skipping=1
      continue
    fi
    if [[ "$line" == *'# LINK-END'* ]]; then
      skipping=0
      continue
    fi
    ((skipping == 0)) || continue
    line="${line//@DOMAIN@/"$DOMAIN"}"
    line="${line//@C2S_PORT@/"$C2S_PORT"}"
    line="${line//@HTTP_PORT@/"$HTTP_PORT"}"
    line="${line//@LINK_PORT@/"$LINK_PORT"}"
    line="${line//@LINK_SECRET@/"$secret_yaml"}"
    line="${line//@STATE_DIR@/"$STATE_DIR"}"
    printf '%s\n' "$line"
  done <"$TEMPLATE" >"$out.tmp"
  mv "$out.tmp" "$out"
}

print_log_tail() {
  local file
  for file in "$(log_dir)/erl.out" "$(log_dir)/error.log" "$(log_file)"; do
    [[ -s "$file" ]] || continue
    printf -- '--- last lines of %s\n' "$file" >&2
    tail -n 40 "$file" >&2
  done
}

kill_beam() {
  local pid="$1" waited
  kill -TERM "$pid" 2>/dev/null || true
  for ((waited = 0; waited < KILL_WAIT_SECONDS * 10; waited++)); do
    is_our_beam "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((waited = 0; waited < 50; waited++)); do
    is_our_beam "$pid" || return 0
    sleep 0.1
  done
  return 1
}

wait_unregistered() {
  local waited
  for ((waited = 0; waited < 50; waited++)); do
    node_registered || return 0
    sleep 0.1
  done
  printf 'ejabberd.sh: warning: %s is still registered in epmd\n' "$NODE" >&2
}

# ---------------------------------------------------------------- commands

cmd_start() {
  local pid spool open_files deadline secret_file port
  is_port "$OPT_C2S_PORT" || die "bad --c2s-port: $OPT_C2S_PORT"
  is_port "$OPT_HTTP_PORT" || die "bad --http-port: $OPT_HTTP_PORT"
  is_port "$OPT_LINK_PORT" || die "bad --link-port: $OPT_LINK_PORT"
  is_uint "$OPT_START_TIMEOUT" || die "bad --timeout: $OPT_START_TIMEOUT"
  [[ -z "$OPT_OWNER_PID" ]] || is_uint "$OPT_OWNER_PID" || die "bad --owner-pid: $OPT_OWNER_PID"
  [[ "$OPT_DOMAIN" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "bad --domain: $OPT_DOMAIN"
  [[ -f "$TEMPLATE" ]] || die "missing $TEMPLATE"

  umask 077
  mkdir -p "$STATE_DIR"
  absolute_state_dir
  [[ "$STATE_DIR" != *[\"\\]* ]] || die "the state directory path must not contain \" or \\: $STATE_DIR"
  lock_state

  NODE="$(node_name_for "$STATE_DIR")"
  if pid="$(beam_pid)"; then
    die "already running on $STATE_DIR: node $NODE, pid $pid (stop it with: bash scripts/ejabberd.sh stop --state $STATE_DIR)"
  fi
  node_registered && die "node $NODE is registered in epmd by another process; stop it first"
  C2S_PORT="$OPT_C2S_PORT" HTTP_PORT="$OPT_HTTP_PORT" LINK_PORT="$OPT_LINK_PORT"
  DOMAIN="$OPT_DOMAIN" LINK="$OPT_LINK"
  for port in "$C2S_PORT" "$HTTP_PORT" "$LINK_PORT"; do
    [[ "$port" == "$LINK_PORT" && "$LINK" == off ]] && continue
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
  done
  build_module

  [[ -s "$STATE_DIR/cookie" ]] || random_hex 16 >"$STATE_DIR/cookie"
  COOKIE="$(<"$STATE_DIR/cookie")"
  secret_file="$STATE_DIR/secret"
  if [[ -n "$OPT_SECRET" ]]; then
    printf '%s' "$OPT_SECRET" >"$secret_file.tmp"
    mv "$secret_file.tmp" "$secret_file"
  elif [[ ! -s "$secret_file" ]]; then
    random_hex 32 >"$secret_file"
  fi
  chmod 600 "$STATE_DIR/cookie" "$secret_file"
  SECRET="$(<"$secret_file")"
  [[ "$LINK" == off ]] || link_tls_files
  write_settings
  render_config

  spool="$STATE_DIR/spool"
  mkdir -p "$spool" "$(log_dir)" "$STATE_DIR/contrib"
  # Keep the limit this process has (raised to the hard limit if allowed); the
  # VM must not be told it may open more ports than it may open files.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  open_files="$(ulimit -n)"
  [[ "$open_files" == unlimited ]] && open_files=65536
  printf -- '--- %s starting %s\n' "$(date -Is)" "$NODE" >>"$(log_dir)/erl.out"
  (
    cd "$STATE_DIR"
    export EJABBERD_CONFIG_PATH="$STATE_DIR/ejabberd.yml"
    EJABBERD_LOG_PATH="$(log_file)"
    export EJABBERD_LOG_PATH
    export EJABBERD_PID_PATH="$STATE_DIR/ejabberd.pid"
    export CONTRIB_MODULES_PATH="$STATE_DIR/contrib"
    export CONTRIB_MODULES_CONF_DIR="$STATE_DIR/contrib/conf"
    export ERL_LIBS="${EJABBERD_EBIN%/*/ebin}"
    export ERL_MAX_PORTS="$open_files"
    ERL_CRASH_DUMP="$(log_dir)/erl_crash.dump"
    export ERL_CRASH_DUMP
    export ERL_CRASH_DUMP_BYTES=0
    # An epmd started by this VM listens on loopback only.
    export ERL_EPMD_ADDRESS=127.0.0.1
    # setsid: a Ctrl-C in the starting terminal must not reach the server.
    # -pz, not -pa: the modules must be loadable before ejabberd validates its
    # config, but a directory named ejabberd/ first on the path would pass for
    # ejabberd's own application directory (priv/msgs and the like).
    exec setsid "$ERL" -sname "$NODE" -setcookie "$COOKIE" -noinput \
      +P "$ERL_PROCESSES" "${ERL_FLAGS[@]}" \
      -kernel inet_dist_use_interface '{127,0,0,1}' \
      -pz "$MODULE_EBIN" \
      -mnesia dir "\"$spool\"" \
      -ejabberd log_rotate_size 10485760 log_rotate_count 1 \
                log_burst_limit_count 100000 \
      -s ejabberd
  ) </dev/null >>"$(log_dir)/erl.out" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$(beam_pid_file)"

  deadline=$((SECONDS + OPT_START_TIMEOUT))
  until ejabberd_started && port_in_use "$C2S_PORT"; do
    if ! child_alive "$pid"; then
      print_log_tail
      die "ejabberd exited during start (state $STATE_DIR)"
    fi
    if ((SECONDS >= deadline)); then
      print_log_tail
      kill_beam "$pid" || true
      die "ejabberd did not start within ${OPT_START_TIMEOUT}s (state $STATE_DIR)"
    fi
    sleep 0.3
  done

  if [[ -n "$OPT_OWNER_PID" ]]; then
    setsid bash "${BASH_SOURCE[0]}" _watch "$OPT_OWNER_PID" "$pid" --state "$STATE_DIR" \
      </dev/null >>"$(log_dir)/watch.log" 2>&1 9>&- &
  fi

  printf 'ejabberd started\n'
  printf '  node    %s (pid %s)\n' "$NODE" "$pid"
  printf '  c2s     127.0.0.1:%s\n' "$C2S_PORT"
  printf '  http    http://127.0.0.1:%s/http-bind (BOSH), ws://127.0.0.1:%s/ws\n' "$HTTP_PORT" "$HTTP_PORT"
  if [[ "$LINK" == on ]]; then
    printf '  link    127.0.0.1:%s (megaphone_listener)\n' "$LINK_PORT"
  else
    printf '  link    off (--no-link)\n'
  fi
  printf '  domain  %s\n' "$DOMAIN"
  printf '  state   %s\n' "$STATE_DIR"
  printf '  log     %s\n' "$(log_file)"
}

cmd_stop() {
  local pid waited
  if ! load_settings; then
    printf 'not running (no state in %s)\n' "$STATE_DIR"
    return 0
  fi
  lock_state
  if ! pid="$(beam_pid)"; then
    rm -f "$(beam_pid_file)"
    wait_unregistered
    printf 'not running (node %s)\n' "$NODE"
    return 0
  fi
  if [[ "${1:-}" == --now ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    ctl_call 10 json stop >/dev/null 2>&1 || true
  fi
  for ((waited = 0; waited < STOP_WAIT_SECONDS * 10; waited++)); do
    is_our_beam "$pid" || break
    sleep 0.1
  done
  if is_our_beam "$pid"; then
    printf 'ejabberd.sh: %s did not stop within %ss; killing pid %s\n' "$NODE" "$STOP_WAIT_SECONDS" "$pid" >&2
    kill_beam "$pid" || die "could not kill pid $pid"
  fi
  wait_unregistered
  rm -f "$(beam_pid_file)"
  printf 'ejabberd stopped (node %s)\n' "$NODE"
}

cmd_status() {
  local pid
  if ! load_settings || ! pid="$(beam_pid)"; then
    printf 'not running (%s)\n' "$STATE_DIR"
    return 3
  fi
  if ejabberd_started; then
    printf 'running: node %s, pid %s, c2s %s, http %s, link %s, state %s\n' \
      "$NODE" "$pid" "$C2S_PORT" "$HTTP_PORT" "$([[ "$LINK" == on ]] && printf '%s' "$LINK_PORT" || printf off)" "$STATE_DIR"
    return 0
  fi
  printf 'not answering: node %s, pid %s (starting, stopping or stuck; see %s)\n' "$NODE" "$pid" "$(log_file)"
  return 1
}

cmd_register() {
  (($# == 2)) || die "usage: register NAME PASSWORD"
  local reply
  reply="$(ctl_call "$CALL_TIMEOUT_SECONDS" json register "$1" "$DOMAIN" "$2")" ||
    die "could not register $1@$DOMAIN"
  case "$reply" in
    '"registered"') printf 'registered %s@%s\n' "$1" "$DOMAIN" ;;
    '"password_reset"') printf '%s@%s already existed: password reset\n' "$1" "$DOMAIN" ;;
    *) die "could not register $1@$DOMAIN: $reply" ;;
  esac
}

cmd_register_bulk() {
  (($# == 3)) || die "usage: register-bulk PREFIX COUNT PASSWORD"
  is_uint "$2" || die "COUNT must be a number: $2"
  local reply
  reply="$(ctl_call "$BULK_TIMEOUT_SECONDS" json register_bulk "$1" "$DOMAIN" "$2" "$3")" ||
    die "register-bulk $1 $2 failed"
  # {"registered":N,"existed":M}, in either order
  [[ "$reply" =~ \"registered\":([0-9]+) ]] || die "register-bulk $1 $2: unexpected reply: $reply"
  local registered="${BASH_REMATCH[1]}"
  [[ "$reply" =~ \"existed\":([0-9]+) ]] || die "register-bulk $1 $2: unexpected reply: $reply"
  printf '%s1..%s%s@%s: %s registered, %s already existed (password reset)\n' \
    "$1" "$1" "$2" "$DOMAIN" "$registered" "${BASH_REMATCH[1]}"
}

cmd_unregister() {
  (($# == 1)) || die "usage: unregister NAME"
  local reply
  reply="$(ctl_call "$CALL_TIMEOUT_SECONDS" json unregister "$1" "$DOMAIN")" ||
    die "could not unregister $1@$DOMAIN"
  [[ "$reply" == '"ok"' ]] || die "could not unregister $1@$DOMAIN: $reply"
  printf 'unregistered %s@%s\n' "$1" "$DOMAIN"
}

cmd_users() {
  (($# == 0)) || die "usage: users"
  local user
  ctl_call "$CALL_TIMEOUT_SECONDS" lines users "$DOMAIN" |
    while IFS= read -r user; do printf '%s@%s\n' "$user" "$DOMAIN"; done
}

cmd_sessions() {
  (($# <= 1)) || die "usage: sessions [PREFIX]"
  ctl_call "$CALL_TIMEOUT_SECONDS" json sessions "${1:-}" "$DOMAIN"
}

cmd_ctl() {
  (($# >= 1)) || die "usage: ctl FUNCTION [ARG...]"
  [[ "$1" =~ ^[a-z][a-z0-9_]*$ ]] || die "not a function name: $1"
  ctl_call "$CALL_TIMEOUT_SECONDS" json "$@"
}

cmd_env_json() {
  printf '{"node":%s,"cookie":%s,"domain":%s,"host":"127.0.0.1","c2sPort":%s,"httpPort":%s,' \
    "$(quoted_string "$NODE" node)" "$(quoted_string "$COOKIE" cookie)" "$(quoted_string "$DOMAIN" domain)" "$C2S_PORT" "$HTTP_PORT"
  printf '"link":%s,"linkPort":%s,"secret":%s,"stateDir":%s,"logPath":%s}\n' \
    "$([[ "$LINK" == on ]] && printf true || printf false)" "$LINK_PORT" "$(quoted_string "$SECRET" secret)" \
    "$(quoted_string "$STATE_DIR" state_dir)" "$(quoted_string "$(log_file)" log_path)"
}

cmd_env() {
  if [[ "${1:-}" == --json ]]; then
    cmd_env_json
    return
  fi
  printf 'MEGAPHONE_EJABBERD_NODE=%q\n' "$NODE"
  printf 'MEGAPHONE_EJABBERD_COOKIE=%q\n' "$COOKIE"
  printf 'MEGAPHONE_EJABBERD_DOMAIN=%q\n' "$DOMAIN"
  printf 'MEGAPHONE_EJABBERD_C2S_PORT=%q\n' "$C2S_PORT"
  printf 'MEGAPHONE_EJABBERD_HTTP_PORT=%q\n' "$HTTP_PORT"
  if [[ "$LINK" == on ]]; then
    printf 'MEGAPHONE_LINK_HOST=%q\n' 127.0.0.1
    printf 'MEGAPHONE_LINK_PORT=%q\n' "$LINK_PORT"
    printf 'MEGAPHONE_LINK_SECRET=%q\n' "$SECRET"
  fi
  printf 'MEGAPHONE_EJABBERD_STATE=%q\n' "$STATE_DIR"
  printf 'MEGAPHONE_EJABBERD_LOG=%q\n' "$(log_file)"
}

# Internal: stop the server when the owner process exits (the test runner
# killed before it could run its `after` step). Exits when the server stops.
cmd_watch() {
  local owner="$1" pid="$2"
  require_settings
  while kill -0 "$owner" 2>/dev/null && is_our_beam "$pid"; do
    sleep 1
  done
  if is_our_beam "$pid"; then
    printf '%s owner pid %s exited: stopping %s\n' "$(date -Is)" "$owner" "$NODE"
    cmd_stop
  fi
}

main() {
  local command="${1:-}"
  (($# > 0)) && shift
  case "$command" in
    '') usage >&2; exit 2 ;;
    help) usage ;;
    start) require_ejabberd; cmd_start "$@" ;;
    stop) require_ejabberd; cmd_stop "$@" ;;
    status) require_ejabberd; cmd_status ;;
    register) require_ejabberd; require_settings; cmd_register "$@" ;;
    register-bulk) require_ejabberd; require_settings; cmd_register_bulk "$@" ;;
    unregister) require_ejabberd; require_settings; cmd_unregister "$@" ;;
    users) require_ejabberd; require_settings; cmd_users "$@" ;;
    connected) require_ejabberd; require_settings; ctl_call "$CALL_TIMEOUT_SECONDS" json connected ;;
    sessions) require_ejabberd; require_settings; cmd_sessions "$@" ;;
    ctl) require_ejabberd; require_settings; cmd_ctl "$@" ;;
    eval)
      (($# == 1)) || die "usage: eval 'ERLANG EXPRESSIONS.'"
      require_ejabberd; require_settings; rpc "$CALL_TIMEOUT_SECONDS" "$1"
      ;;
    env) require_settings; cmd_env "$@" ;;
    _watch) require_ejabberd; cmd_watch "$@" ;;
    *) die "unknown command: $command (see --help)" ;;
  esac
}

main "$@"
