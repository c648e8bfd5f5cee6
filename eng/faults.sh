#!/usr/bin/env bash
# The fault suite at full strength: boots the whole system once and, each step bounded in time, kills the worker during
# a burst, freezes Redis for 10 s, freezes the worker, restarts Postgres, cuts 30 streams mid-flight and floods the API
# with bad keys; then checks client outcomes, recovery times and the books. One line per fault goes to
# artifacts/faults/summary.txt (the CI run of the same tests, from eng/test.sh, uses shorter stalls and smaller bursts).
# Usage: eng/faults.sh [--no-build] [extra dotnet test arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
./eng/bootstrap.sh || exit 1
build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" -eq 1 ]; then
  dotnet build tests/Aurous.Faults.Tests --nologo -clp:ErrorsOnly || exit 1
fi
mkdir -p artifacts/faults
: > artifacts/faults/summary.txt
AUROUS_FAULTS=full dotnet test tests/Aurous.Faults.Tests --no-build --logger "console;verbosity=normal" \
  --logger "trx;LogFileName=faults.trx" --results-directory artifacts/faults "${args[@]}"
rc=$?
echo
echo "Fault summary (artifacts/faults/summary.txt):"
cat artifacts/faults/summary.txt
exit $rc
