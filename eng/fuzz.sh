#!/usr/bin/env bash
# The API's input fuzz test at full size: generated requests (mutated and garbage bodies, hostile headers, every route,
# unknown routes and wrong methods) against a whole system booted from the AppHost. Zero 5xx is the pass mark.
#   eng/fuzz.sh              10,000 requests
#   eng/fuzz.sh 50000        another count
#   AUROUS_FUZZ_SEED=<seed>  replays a failure CsCheck printed
# The summary (count, time, 5xx, status/code pairs) is printed and kept in artifacts/fuzz/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
./eng/bootstrap.sh
export AUROUS_FUZZ_CASES="${1:-10000}"
dotnet build tests/Aurous.Api.Tests --nologo -clp:ErrorsOnly
rm -f artifacts/fuzz/summary.txt
status=0
dotnet test tests/Aurous.Api.Tests --no-build --nologo --filter "FullyQualifiedName~InputFuzzTests" \
  --logger "console;verbosity=normal" || status=$?
if [ -f artifacts/fuzz/summary.txt ]; then
  cat artifacts/fuzz/summary.txt
fi
exit "$status"
