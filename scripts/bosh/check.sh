#!/usr/bin/env bash
# Checks a BOSH deployment end to end with curl alone: logs in, binds, sends
# presence and one message, logs out. Exits 0 and ends with "bosh check passed"
# when every step worked.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bosh/check.sh [OPTIONS] USER PASSWORD [TO [MESSAGE]]

Logs in to a BOSH endpoint (XEP-0124, XEP-0206) as USER with SASL PLAIN, binds
a resource, sends initial presence and one chat message, and logs out. With no
TO (or an empty one), the message goes to the session itself and must come
back intact.

USER is a name, or name@domain (which sets the domain unless -d is given).
A PASSWORD of - is read from the first line of stdin (out of ps and history).
TO is a JID; a bare name means NAME@DOMAIN.

EOF
  bosh_options_help udrwtkvh
  cat <<'EOF'

Each step prints one line to stderr: "ok  ..." or "FAIL step: what came back".
Exit status: 0 passed, 1 a step failed, 2 bad command line.

Examples:
  scripts/bosh/check.sh alice secret
  scripts/bosh/check.sh -u https://chat.example.com/http-bind alice@example.com secret bob 'hello'
  printf '%s\n' "$PASSWORD" | scripts/bosh/check.sh alice -
EOF
}

# shellcheck source=scripts/bosh/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local to="${3:-}" text="${4:-}"
  bosh_login "$1" "$2"
  [[ -n "$text" ]] || text="megaphone bosh check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  [[ -z "$to" ]] || to="$(bosh_jid_arg "$to")"
  if [[ -z "$to" ]]; then
    bosh_message "$BOSH_JID" "$text"
    bosh_expect_message "$BOSH_MESSAGE_ID" "$text"
  else
    bosh_message "$to" "$text"
  fi
  bosh_terminate
  printf 'bosh check passed: logged in as %s, sent 1 message%s, logged out\n' \
    "$BOSH_JID" "$([[ -n "$to" ]] && printf ' to %s' "$to" || printf ' to itself and received it')"
}

bosh_run udrwtkvh 'USER PASSWORD [TO [MESSAGE]]' "$@"
