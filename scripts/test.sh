#!/usr/bin/env bash
# Runs every test of gridtrace against a throwaway PostGIS cluster under .data/test,
# with Chromium for the browser tests. CI=true (set by .ci/run) turns a missing
# dependency into a failure instead of a skip. BENCH=1 runs the benchmarks instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
port="${GRIDTRACE_TEST_PORT:-54330}"
bin=bin/gridtrace

url=$("$bin" pg start --data-dir .data/test --local-port "$port" --name postgres --log-level warn)
trap '"$bin" pg stop --data-dir .data/test --local-port "$port" --log-level warn || true' EXIT
export GRIDTRACE_TEST_DATABASE_URL="$url"
export GRIDTRACE_CHROMIUM="${GRIDTRACE_CHROMIUM:-$(command -v chromium || true)}"
export GRIDTRACE_BIN="$PWD/$bin"

if [ "${BENCH:-}" = 1 ]; then
  go test -run '^$' -bench "${BENCH_PATTERN:-.}" -benchmem ${BENCH_ARGS:-} ./...
  exit
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 -timeout 15m ./...
# Fuzz each parser for a bounded time after the tests (seeds alone ran above).
FUZZTIME="${FUZZTIME:-5s}" scripts/fuzz.sh
