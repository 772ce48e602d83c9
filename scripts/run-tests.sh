#!/usr/bin/env bash
# Run ferry's tests: a short libFuzzer run on every parser, then the Criterion
# suite (last, so that its synthesis line closes the output). Called by
# `make test` with the build directory as $1.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."

status=0
if ls "$build"/fuzz/fuzz_* >/dev/null 2>&1; then
	bash scripts/fuzz.sh "$build" "${FUZZ_CI_SECONDS:-20}" || status=1
fi

export FERRY_BIN=$PWD/$build/ferry
export FERRY_BUILD=$PWD/$build
"$build"/selftests/ferry-tests --timeout 300 ${CRITERION_ARGS:-} || status=1
exit $status
