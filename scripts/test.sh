#!/usr/bin/env bash
# The test suite, ending with one line "N passed, N failed" taken from tap's
# own counts.
#   bash scripts/test.sh          everything (npm test): type-check and build, lint, the
#                                 Erlang module's build, then every tap file, the
#                                 integration tests against a private ejabberd
#                                 that the tap run starts and stops (test/setup/)
#   bash scripts/test.sh --unit   the pure tests only (npm run test:unit): the
#                                 TypeScript unit tests and EUnit, no ejabberd
#                                 started, for the edit-compile loop
# Further arguments go to tap (e.g. a test file).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

tap_args=()
quick=no
if [ "${1:-}" = --unit ]; then
  shift
  # Integration tests (a private ejabberd, real HTTP) live in these folders;
  # everything else is pure.
  tap_args=(--jobs=4 --exclude='test/integration/**' --exclude='test/scripts/**')
  export MEGAPHONE_TEST_NO_EJABBERD=1
  # Quick by design: tsc and lint run in `npm test`.
  quick=yes
fi

fail_early() {
  echo "$1"
  echo "0 passed, 1 failed"
  exit 1
}

if [ "$quick" = no ]; then
  # tsconfig.json's output, dist/, is the build's too (tsconfig.build.json
  # compiles a subset with the same options): `setup.sh run` in the suite then
  # finds it up to date instead of compiling again.
  echo "# type-check and build (tsc)"
  npx --no-install tsc || fail_early "type-check failed"
  echo "# lint (scripts/lint.sh: eslint, shellcheck)"
  bash scripts/lint.sh || fail_early "lint failed"
fi

echo "# build the ejabberd module (make -C ejabberd)"
make -s -C ejabberd || fail_early "ejabberd module build failed"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# tap's TAP output ends with "# { total: N, pass: N, fail: N, ... }".
npx --no-install tap --reporter=tap "${tap_args[@]}" "$@" 2>&1 | tee "$log"
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
