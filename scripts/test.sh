#!/usr/bin/env bash
# The test suite, ending with one line "N passed, N failed" taken from tap's
# own counts.
#   bash scripts/test.sh          everything (npm test): type-check and build, lint, the
#                                 Erlang module's build, then every tap file, the
#                                 system tests against a private ejabberd that
#                                 the tap run starts and stops (test/setup/)
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
  # System tests (a private ejabberd, real HTTP) live in these folders;
  # everything else is pure. tap starts files in path order, so the names
  # order the run: test/commands/ (README's command 1, long, with an ejabberd
  # of its own) starts first, the pure tests run while the suite's ejabberd
  # boots, and test/system/ (which waits for it) sorts last.
  tap_args=(--jobs=4 --exclude='test/system/**' --exclude='test/commands/**')
  export MEGAPHONE_TEST_NO_EJABBERD=1
  # Quick by design: tsc and lint run in `npm test`.
  quick=yes
fi

log=$(mktemp)
lint_log=$(mktemp)
lint_pid=""
# shellcheck disable=SC2317 # (the EXIT trap calls it)
cleanup() {
  # Lint runs in a session of its own: this ends eslint and shellcheck too.
  [ -n "$lint_pid" ] && kill -- "-$lint_pid" 2>/dev/null
  rm -f "$log" "$lint_log"
}
trap cleanup EXIT

fail_early() {
  echo "$1"
  echo "0 passed, 1 failed"
  exit 1
}

if [ "$quick" = no ]; then
  # Lint needs nothing built: it runs beside the type-check and the tests (a
  # core they leave idle much of the time) and its verdict comes at the end.
  setsid bash scripts/lint.sh >"$lint_log" 2>&1 &
  lint_pid=$!
  # tsconfig.json's output, dist/, is the build's too (tsconfig.build.json
  # compiles a subset with the same options): `setup.sh run` in the suite then
  # finds it up to date instead of compiling again. The compile is incremental
  # (dist/.tsbuildinfo), so compiled tests whose source is gone are removed
  # here rather than by emptying dist/test/.
  echo "# type-check and build (tsc)"
  if [ -d dist/test ]; then
    while IFS= read -r -d '' compiled; do
      source_file="${compiled#dist/}"
      source_file="${source_file%.js}.ts"
      [ -f "$source_file" ] || rm -f "$compiled" "$compiled.map"
    done < <(find dist/test -name '*.js' -print0)
  fi
  # An incremental compile does not write again what was deleted by hand.
  if [ ! -f dist/server.js ] || [ ! -f dist/test/setup/before.js ]; then rm -f dist/.tsbuildinfo; fi
  npx --no-install tsc || fail_early "type-check failed"

  # tap runs the tests tsc has just compiled (dist/test/) rather than the
  # TypeScript through tsx (as .taprc and --unit do): each test file is its own
  # process, and loading tsx costs each about a third of a second of CPU.
  # Arguments naming test/**.ts files name their compiled copies.
  # (tap's default exclude, **/@(fixture*(s)|dist)/**, is replaced: nothing
  # else need be excluded, since node_modules always is.)
  tap_args=(--include='dist/test/**/*.test.js' --exclude='**/node_modules/**'
    --before=dist/test/setup/before.js --after=dist/test/setup/after.js
    --node-arg=--enable-source-maps)
  # tap turns coverage off for test files (disable-coverage in .taprc) but
  # not for the before and after programs; compiled, they would report it.
  export _TAPJS_PROCESSINFO_COVERAGE_=0
  args=()
  for arg in "$@"; do
    if [[ "$arg" == test/*.ts ]]; then args+=("dist/${arg%.ts}.js"); else args+=("$arg"); fi
  done
  set -- "${args[@]}"
fi

echo "# build the ejabberd module (make -C ejabberd)"
make -s -C ejabberd || fail_early "ejabberd module build failed"

# tap's TAP output ends with "# { total: N, pass: N, fail: N, ... }".
# (tap's own binary, not npx: npm exec costs a second of CPU before tap starts.)
node_modules/.bin/tap --reporter=tap "${tap_args[@]}" "$@" 2>&1 | tee "$log"
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
if [ -n "$lint_pid" ]; then
  echo "# lint (scripts/lint.sh: eslint, shellcheck)"
  lint_status=0
  wait "$lint_pid" || lint_status=$?
  lint_pid=""
  cat "$lint_log"
  if [ "$lint_status" -ne 0 ]; then
    echo "lint failed (exit $lint_status)"
    fail=$((fail + 1))
    [ "$status" -ne 0 ] || status=1
  fi
fi
echo "${pass} passed, ${fail} failed"
exit "$status"
