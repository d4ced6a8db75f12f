#!/usr/bin/env bash
# Sends one chat message in a session made by login.sh; prints the next RID.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bosh/send.sh [OPTIONS] SID RID TO MESSAGE

Sends MESSAGE to TO in the BOSH session SID (from login.sh), in the request
with rid RID, and waits until the server has processed it. Prints the next RID
on stdout. TO is a JID; a bare name means NAME@DOMAIN.

Options:
  -u URL       BOSH endpoint           default http://127.0.0.1:5280/http-bind
  -d DOMAIN    XMPP domain of a bare TO, default localhost
  -t SECONDS   give up after this long, default 30
  -k           accept any TLS certificate (curl --insecure)
  -v           print every request and response body
  -h           this help

Exit status: 0 sent, 1 failed (the session is then terminated), 2 bad command line.

Example:
  rid=$(scripts/bosh/send.sh "$sid" "$rid" bob@localhost 'hello')
EOF
}

# shellcheck source=scripts/bosh/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  bosh_parse_options 'u:d:t:kvh' "$@"
  set -- "${BOSH_ARGS[@]+"${BOSH_ARGS[@]}"}"
  (($# == 4)) || bosh_usage_error 'expected SID RID TO MESSAGE'
  bosh_session_args "$1" "$2"
  BOSH_OPEN=1
  bosh_message "$(bosh_jid_arg "$3")" "$4"
  printf '%s\n' "$BOSH_RID"
}

main "$@"
