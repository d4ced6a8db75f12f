#!/usr/bin/env bash
# Sends one chat message in a session made by login.sh; prints the next RID.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bosh/send.sh [OPTIONS] SID RID TO MESSAGE

Sends MESSAGE to TO in the BOSH session SID (from login.sh), in the request
with rid RID, and waits until the server has processed it. Prints the next RID
on stdout. TO is a JID; a bare name means NAME@DOMAIN.

EOF
  bosh_options_help udtkvh "d=XMPP domain of a bare TO, default $BOSH_DEFAULT_DOMAIN" \
    "t=give up after this long, default $BOSH_DEFAULT_STEP_SECONDS" 'v=print every request and response body'
  cat <<'EOF'

Exit status: 0 sent, 1 failed (the session is then terminated), 2 bad command line.

Example:
  rid=$(scripts/bosh/send.sh "$sid" "$rid" bob@localhost 'hello')
EOF
}

# shellcheck source=scripts/bosh/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  bosh_session_args "$1" "$2"
  BOSH_OPEN=1
  bosh_message "$(bosh_jid_arg "$3")" "$4"
  printf '%s\n' "$BOSH_RID"
}

bosh_run udtkvh 'SID RID TO MESSAGE' "$@"
