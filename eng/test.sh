#!/usr/bin/env bash
# The test command: installs what is missing (idempotent), builds, runs every test project against real Postgres,
# Redis, Azurite and the inference worker (started by the fixtures), and prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
./eng/bootstrap.sh || exit 1

# The test fixtures start Aspire's orchestrator (dcp), which watches its AppHost and stops everything with it. Should a
# test process die without disposing, stop any orchestrator whose AppHost is gone, so that runs never pile up.
stop_orphaned_orchestrators() {
  for pid in $(pgrep -f 'dcp start-apiserver --monitor' || true); do
    watched=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | sed -n 's/.*--monitor \([0-9]*\).*/\1/p')
    if [ -n "$watched" ] && ! kill -0 "$watched" 2>/dev/null; then
      pkill -TERM -P "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
    fi
  done
}
trap stop_orphaned_orchestrators EXIT

results=artifacts/test-results
rm -rf "$results"
# Build once (in parallel), then run the test projects one after another: on two cores, suites that each boot the
# whole system run faster in sequence than side by side, and timing-sensitive tests keep their meaning.
args=()
build=1
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" -eq 1 ]; then
  dotnet build Aurous.sln --nologo -clp:ErrorsOnly || exit 1
fi
dotnet test Aurous.sln --no-build -m:1 --logger "trx" --results-directory "$results" "${args[@]}"
rc=$?

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters"); e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
echo "Tests: $passed passed, $failed failed, $skipped skipped"
if [ "$rc" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "No test ran." >&2
  exit 1
fi
exit $rc
