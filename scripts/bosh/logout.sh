#!/usr/bin/env bash
# Terminates a session made by login.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bosh/logout.sh [OPTIONS] SID RID

Terminates the BOSH session SID (from login.sh) with unavailable presence, in
the request with rid RID (XEP-0124 13).

EOF
  bosh_options_help ukvh 'v=print every request and response body'
  cat <<'EOF'

Exit status: 0 logged out, 1 failed, 2 bad command line.

Example:
  scripts/bosh/logout.sh "$sid" "$rid"
EOF
}

# shellcheck source=scripts/bosh/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  bosh_session_args "$1" "$2"
  bosh_terminate
}

bosh_run ukvh 'SID RID' "$@"
