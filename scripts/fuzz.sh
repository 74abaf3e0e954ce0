#!/usr/bin/env bash
# Runs every fuzz target of the given modules briefly: fuzz.sh TIME MODULE...
# Go can fuzz only one target per invocation, so each is run on its own.
set -euo pipefail
fuzztime=$1; shift
for mod in "$@"; do
  while IFS= read -r file; do
    pkg=$(dirname "$file")
    for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$mod/$file" | awk '{print $2}'); do
      echo "== fuzz $mod/$pkg $target ($fuzztime)"
      (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$pkg")
    done
  done < <(cd "$mod" && grep -rl --include='*_test.go' '^func Fuzz' . || true)
done
