#!/usr/bin/env bash
# Installs what Megaphone needs on a Debian machine, then runs a command:
#   bash scripts/setup.sh run     Megaphone in front of a private ejabberd on
#                                 loopback (scripts/ejabberd.sh), until Ctrl-C
#   bash scripts/setup.sh test    the whole test suite (npm test)
#   bash scripts/setup.sh deps    only install
# Debian packages: ejabberd (the server the tests and the embedded default run),
# erlang-dev and erlang-eunit (to build and test the listener module), make,
# libxml2-utils (xmllint, to validate BOSH bodies), chromium (the headless
# browser that tests the chat page), shellcheck (lints the shell scripts), tsung
# and wrk (the load tools of scripts/bench/load.ts, which a test runs tiny).
# npm packages: npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(ejabberd erlang-dev erlang-eunit make libxml2-utils chromium shellcheck tsung wrk)

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
    # Build unless dist/ is newer than every source and the TypeScript settings
    # (npm test's type-check writes it too, so the suite's run of this command
    # finds it up to date).
    if [ ! -f dist/server.js ] ||
      [ -n "$(find app.ts server.ts lib routes scripts test -name '*.ts' -newer dist/server.js -print -quit)" ] ||
      [ tsconfig.json -nt dist/server.js ] || [ tsconfig.build.json -nt dist/server.js ]; then
      npm run --silent build
    fi
    bash scripts/ejabberd.sh start
    # Whatever happens to Megaphone, the private ejabberd goes down with it.
    trap 'bash scripts/ejabberd.sh stop' EXIT
    set -a
    eval "$(bash scripts/ejabberd.sh env)"
    # Serve BOSH for the private ejabberd's domain unless told otherwise.
    MEGAPHONE_BOSH_DOMAINS="${MEGAPHONE_BOSH_DOMAINS:-$MEGAPHONE_EJABBERD_DOMAIN}"
    set +a
    base="http://${MEGAPHONE_HTTP_HOST:-127.0.0.1}:${MEGAPHONE_HTTP_PORT:-5280}"
    echo "setup: chat page $base/  BOSH $base/http-bind  domain $MEGAPHONE_BOSH_DOMAINS"
    echo "setup: add users with: npm run user -- add NAME PASSWORD   (Ctrl-C stops Megaphone and ejabberd)"
    node dist/server.js
    ;;
  *) echo "usage: scripts/setup.sh [deps|run|test]" >&2; exit 2 ;;
esac
