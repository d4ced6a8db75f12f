#!/usr/bin/env bash
# Logs in over BOSH with curl alone and leaves the session open for send.sh and
# logout.sh: prints "SID RID JID" (RID: the next request's) on stdout.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bosh/login.sh [OPTIONS] USER PASSWORD

Creates a BOSH session (XEP-0124, XEP-0206), authenticates as USER with SASL
PLAIN, binds a resource and sends initial presence. Prints one line on stdout:

  SID RID JID

for send.sh and logout.sh (RID is the rid the next request must carry). The
server ends the session if no request comes within its inactivity period
(printed as inactivity=SECONDS), so follow up promptly.

USER is a name, or name@domain (which sets the domain unless -d is given).
A PASSWORD of - is read from the first line of stdin (out of ps and history).

EOF
  bosh_options_help udrwtkvh
  cat <<'EOF'

Exit status: 0 logged in, 1 a step failed, 2 bad command line.

Example:
  read -r sid rid jid < <(scripts/bosh/login.sh alice secret)
  rid=$(scripts/bosh/send.sh "$sid" "$rid" bob 'hello')
  scripts/bosh/logout.sh "$sid" "$rid"
EOF
}

# shellcheck source=scripts/bosh/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  bosh_login "$1" "$2"
  printf '%s %s %s\n' "$BOSH_SID" "$BOSH_RID" "$BOSH_JID"
}

bosh_run udrwtkvh 'USER PASSWORD' "$@"
