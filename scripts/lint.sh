#!/usr/bin/env bash
# Lints everything that is code: ESLint (neostandard, TypeScript rules) on the
# TypeScript and JavaScript, shellcheck on every shell script. Exit status is
# non-zero when either finds a problem. `npm run lint` runs this; so does
# `npm test`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

status=0
# Cached by content (node_modules/.cache/eslint): a run lints only what changed.
npx --no-install eslint --cache --cache-strategy content --cache-location node_modules/.cache/eslint/ . || status=1

if command -v shellcheck >/dev/null 2>&1; then
  mapfile -t shells < <(git ls-files -co --exclude-standard -- '*.sh' .ci/run 2>/dev/null || find scripts .ci -name '*.sh' -o -name run)
  # Skipped when the scripts (and shellcheck) are byte for byte those of the
  # last clean run: shellcheck takes several seconds of CPU, the hash none.
  stamp=node_modules/.cache/shellcheck/clean
  digest=$({ shellcheck --version; cat "${shells[@]}"; } | sha256sum)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
    echo "lint: shellcheck: the ${#shells[@]} scripts are unchanged since its last clean run"
  elif shellcheck -x "${shells[@]}"; then
    mkdir -p "${stamp%/*}" && printf '%s\n' "$digest" > "$stamp"
  else
    status=1
  fi
else
  echo "lint: shellcheck not found: run 'apt-get install -y shellcheck' (bash scripts/setup.sh deps installs it)" >&2
  status=1
fi
exit "$status"
