#!/usr/bin/env bash
# Run every benchmark binary in build/bench and print the results with the
# machine and date, ready to paste into docs/BENCHMARKS.md.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."

export FERRY_BUILD=$PWD/$build
out="$build/bench/results.txt"
{
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	for b in "$build"/bench/bench_*; do
		[ -x "$b" ] || continue
		echo "## $(basename "$b")"
		"$b"
	done
} | tee "$out"
echo "bench: results in $out"
