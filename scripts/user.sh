#!/usr/bin/env bash
# Accounts on the private ejabberd that `bash scripts/setup.sh run` started
# (state in .state/ejabberd, or MEGAPHONE_EJABBERD_STATE):
#   npm run user -- add NAME PASSWORD    create NAME@localhost, or reset its password
#   npm run user -- remove NAME          delete it
#   npm run user -- list                 print every account
# For an operator's own ejabberd use its ejabberdctl (register, unregister).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  add|remove|list) ;;
  -h|--help|'') usage ;;
  *) echo "user: unknown command: $1" >&2; usage ;;
esac

ejabberd=(bash scripts/ejabberd.sh)
if ! "${ejabberd[@]}" status >/dev/null 2>&1; then
  echo "user: the private ejabberd is not running; start it with: bash scripts/setup.sh run" >&2
  exit 1
fi

case "${1:-}" in
  add)
    (($# == 3)) || usage
    exec "${ejabberd[@]}" register -- "$2" "$3"
    ;;
  remove)
    (($# == 2)) || usage
    exec "${ejabberd[@]}" unregister -- "$2"
    ;;
  list)
    (($# == 1)) || usage
    exec "${ejabberd[@]}" users
    ;;
esac
