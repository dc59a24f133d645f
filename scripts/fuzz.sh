#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX in the parser and geometry packages) for
# FUZZTIME each (default 5s), one after the other: go test -fuzz takes one target
# per run. A crasher is written to <package>/testdata/fuzz/FuzzX/ and fails the run;
# commit it as a corpus entry once fixed. FUZZ_PATTERN narrows the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"
for pkg in ./geo ./grid ./trace/track; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E "${FUZZ_PATTERN:-.}"); do
    echo "fuzz $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "${FUZZ_PARALLEL:-2}" "$pkg" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log >&2; rm -f /tmp/fuzz-$$.log; exit 1; }
    grep "elapsed" /tmp/fuzz-$$.log | tail -n 1
  done
done
rm -f /tmp/fuzz-$$.log
