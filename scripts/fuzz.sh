#!/usr/bin/env bash
# Runs every fuzz target of the given modules briefly: fuzz.sh TIME MODULE...
# Go can fuzz only one target per invocation, so each is run on its own.
#
# Go's fuzzing engine itself sometimes fails a target with "context deadline
# exceeded" when -fuzztime runs out while a worker is still busy (seen in CI
# on 2 cores): no input failed then. Such a run is repeated once; a run that
# found a failing input (it says "Failing input written to ...") or failed
# otherwise is a failure at once.
set -euo pipefail
fuzztime=$1; shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for mod in "$@"; do
  while IFS= read -r file; do
    pkg=$(dirname "$file")
    for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$mod/$file" | awk '{print $2}'); do
      for try in 1 2; do
        echo "== fuzz $mod/$pkg $target ($fuzztime)"
        if (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$pkg") 2>&1 | tee "$out"; then
          break
        fi
        if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
          echo "== fuzz $mod/$pkg $target: the fuzzing engine ran out of its time with a worker busy (no failing input); once more"
          continue
        fi
        exit 1
      done
    done
  done < <(cd "$mod" && grep -rl --include='*_test.go' '^func Fuzz' . || true)
done
