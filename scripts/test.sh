#!/usr/bin/env bash
# The whole test suite: TypeScript type-check, the Erlang module's build and
# EUnit tests (run as tap tests), unit tests and integration tests against a
# private ejabberd that the tap run starts and stops (test/setup/).
# Ends with one line "N passed, N failed" taken from tap's own counts.
set -uo pipefail
cd "$(dirname "$0")/.."

echo "# type-check (tsc --noEmit)"
if ! npx --no-install tsc --noEmit; then
  echo "type-check failed"
  echo "0 passed, 1 failed"
  exit 1
fi

echo "# build the ejabberd module (make -C ejabberd)"
if ! make -s -C ejabberd; then
  echo "ejabberd module build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# tap's TAP output ends with "# { total: N, pass: N, fail: N, ... }".
npx --no-install tap --reporter=tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total: ' "$log" | tail -n 1)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
if [ -z "$pass" ]; then
  echo "tap printed no summary (exit $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
fail=${fail:-0}
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
  # tap failed outside any assertion (setup, teardown, a crashed file): count it.
  fail=1
fi
echo "${pass} passed, ${fail} failed"
exit "$status"
