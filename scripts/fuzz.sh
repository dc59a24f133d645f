#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX in the parser and geometry packages) for
# FUZZTIME each (default 5s), one after the other: go test -fuzz takes one target
# per run. A crasher is written to <package>/testdata/fuzz/FuzzX/ and fails the run;
# commit it as a corpus entry once fixed. FUZZ_PATTERN narrows the targets.
#
# Go up to 1.26 has a race in its fuzz coordinator (golang/go#75804, fixed in 1.27):
# at the end of a duration -fuzztime a run can fail with a bare "context deadline
# exceeded" and no crasher. Such a run is repeated once; a second failure, or any
# failure that wrote a crasher or says anything else, fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# fuzz_once runs one target; it answers 0 when it passed, 2 for the coordinator
# race alone and 1 for a real failure.
fuzz_once() {
  local pkg=$1 target=$2 corpus="$1/testdata/fuzz/$2" before after
  before=$(ls "$corpus" 2>/dev/null | wc -l)
  if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "${FUZZ_PARALLEL:-2}" "$pkg" >"$log" 2>&1; then
    return 0
  fi
  after=$(ls "$corpus" 2>/dev/null | wc -l)
  if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
    ! grep -qE 'panic|Failing input' "$log"; then
    return 2
  fi
  return 1
}

for pkg in ./geo ./grid ./trace/track; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E "${FUZZ_PATTERN:-.}"); do
    echo "fuzz $pkg $target for $fuzztime"
    rc=0
    fuzz_once "$pkg" "$target" || rc=$?
    if [ "$rc" = 2 ]; then
      echo "fuzz $pkg $target: 'context deadline exceeded' without a crasher (golang/go#75804); running it again"
      rc=0
      fuzz_once "$pkg" "$target" || rc=$?
    fi
    if [ "$rc" != 0 ]; then
      cat "$log" >&2
      exit 1
    fi
    grep "elapsed" "$log" | tail -n 1
  done
done
