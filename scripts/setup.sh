#!/usr/bin/env bash
# Installs what Megaphone needs on a Debian machine, then runs a command:
#   bash scripts/setup.sh run     Megaphone in front of a private ejabberd on
#                                 loopback (scripts/ejabberd.sh), until Ctrl-C;
#                                 --processes N: N Megaphone processes behind
#                                 HAProxy on the same port
#   bash scripts/setup.sh test    the whole test suite (npm test)
#   bash scripts/setup.sh deps    only install
# Debian packages: ejabberd (the server the tests and the embedded default run),
# erlang-dev and erlang-eunit (to build and test the listener module),
# erlang-proper and erlang-proper-dev (PropEr, the listener's fuzz properties), make,
# libxml2-utils (xmllint, to validate BOSH bodies), chromium (the headless
# browser that tests the chat page), shellcheck (lints the shell scripts), tsung
# and wrk (the load tools of scripts/bench/load.ts, which a test runs tiny),
# haproxy (the balancer in front of several Megaphone processes).
# npm packages: npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(ejabberd erlang-dev erlang-eunit erlang-proper erlang-proper-dev make libxml2-utils chromium shellcheck tsung wrk haproxy)

# One dpkg-query for all of them (it reads dpkg's whole database each time).
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null |
  awk '/ install ok installed$/ { printf "%s ", $1 }')"
missing=()
for pkg in "${packages[@]}"; do
  [[ "$installed" == *" $pkg "* ]] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # The package's own service is not ours: never let its install start it.
  policy=/usr/sbin/policy-rc.d
  ours=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    ours=yes
  fi
  rc=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  [ "$ours" = yes ] && "${sudo[@]}" rm -f "$policy"
  [ "$rc" -eq 0 ] || { echo "setup: apt-get install failed ($rc)" >&2; exit "$rc"; }
fi

command -v node >/dev/null || { echo "setup: Node.js >= 20.18 is required (https://nodejs.org)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' ||
  { echo "setup: Node.js >= 20.18 is required, found $(node --version)" >&2; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  # tap compiles its test class for the plugin set .taprc names (it drops
  # @tapjs/typescript); done here, once per install, rather than by the first
  # test run (8 s before any test starts).
  echo "setup: tap build"
  npx --no-install tap build
fi

case "${1:-deps}" in
  deps) ;;
  test) shift; exec npm test -- "$@" ;;
  run)
    shift
    processes=1
    while [ $# -gt 0 ]; do
      case "$1" in
        --processes) processes=${2:-}; shift 2 || { echo "setup: --processes N" >&2; exit 2; } ;;
        *) echo "usage: scripts/setup.sh run [--processes N]" >&2; exit 2 ;;
      esac
    done
    [[ "$processes" =~ ^[1-9][0-9]?$ ]] || { echo "setup: --processes takes 1 to 99" >&2; exit 2; }
    # Build unless dist/ is newer than every source and the TypeScript settings
    # (npm test's type-check writes it too, so the suite's run of this command
    # finds it up to date).
    if [ ! -f dist/server.js ] ||
      [ -n "$(find app.ts server.ts lib routes scripts test -name '*.ts' -newer dist/server.js -print -quit)" ] ||
      [ tsconfig.json -nt dist/server.js ] || [ tsconfig.build.json -nt dist/server.js ]; then
      npm run --silent build
    fi
    bash scripts/ejabberd.sh start
    set -a
    eval "$(bash scripts/ejabberd.sh env)"
    # Serve BOSH for the private ejabberd's domain unless told otherwise.
    MEGAPHONE_BOSH_DOMAINS="${MEGAPHONE_BOSH_DOMAINS:-$MEGAPHONE_EJABBERD_DOMAIN}"
    set +a
    host=${MEGAPHONE_HTTP_HOST:-127.0.0.1} port=${MEGAPHONE_HTTP_PORT:-5280}
    base="http://$host:$port"
    echo "setup: chat page $base/  Converse.js $base/converse/  BOSH $base/http-bind  WebSocket ws://$host:$port/xmpp-websocket  domain $MEGAPHONE_BOSH_DOMAINS"
    echo "setup: add users with: npm run user -- add NAME PASSWORD   (Ctrl-C stops Megaphone and ejabberd)"
    if [ "$processes" -eq 1 ]; then
      # Whatever happens to Megaphone, the private ejabberd goes down with it.
      trap 'bash scripts/ejabberd.sh stop' EXIT
      node dist/server.js
      exit
    fi
    # N Megaphone processes on loopback ports (MEGAPHONE_PROCESS_PORTS, or the
    # N ports after the HTTP port), each with its instance tag, behind HAProxy
    # on the HTTP port (scripts/haproxy.sh).
    command -v haproxy >/dev/null || { echo "setup: --processes needs haproxy (bash scripts/setup.sh deps)" >&2; exit 1; }
    IFS=, read -r -a ports <<< "${MEGAPHONE_PROCESS_PORTS:-$(seq -s, $((port + 1)) $((port + processes)))}"
    [ "${#ports[@]}" -eq "$processes" ] || { echo "setup: MEGAPHONE_PROCESS_PORTS must list $processes ports" >&2; exit 2; }
    pids=()
    config=$(mktemp)
    # shellcheck disable=SC2317 # (the EXIT trap calls it)
    stop_all() {
      [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
      wait 2>/dev/null
      rm -f "$config"
      bash scripts/ejabberd.sh stop
    }
    trap stop_all EXIT
    trap 'exit 130' INT TERM
    servers=()
    for i in $(seq 1 "$processes"); do
      p=${ports[$((i - 1))]}
      MEGAPHONE_INSTANCE="w$i" MEGAPHONE_HTTP_HOST=127.0.0.1 MEGAPHONE_HTTP_PORT="$p" MEGAPHONE_HTTP_TRUST_PROXY=true \
        node dist/server.js &
      pids+=($!)
      servers+=("w$i=127.0.0.1:$p")
    done
    bash scripts/haproxy.sh --bind "$host:$port" --bosh-path "${MEGAPHONE_BOSH_PATH:-/http-bind}" "${servers[@]}" > "$config"
    echo "setup: $processes Megaphone processes (${servers[*]}) behind HAProxy on $host:$port"
    haproxy -db -f "$config" &
    pids+=($!)
    # Until one of them ends; then the trap ends the others and ejabberd.
    wait -n
    ;;
  *) echo "usage: scripts/setup.sh [deps|run [--processes N]|test]" >&2; exit 2 ;;
esac
