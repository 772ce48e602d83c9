#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-builds.sh: two builds of ferry side by side, to show that a change
# (a refactor, a new library) left dump and restore within noise.
#
#   bench-builds.sh [-m MIB] [-r ROUNDS] OLD_FERRY NEW_FERRY WORKLOADS_DIR
#
# Per round, in ABBA order: a fresh memhog of MIB MiB (default 256), then
# `ferry dump --leave-running` into a directory on /var/tmp (wall time, and
# the frozen time ferry records in stats-dump), then the memhog killed and
# `ferry restore -d` of those images (wall time), the restored memhog asked to
# verify its memory. Prints medians per build and NEW/OLD ratios. Rounds whose
# verification fails stop the run (exit 1).
set -euo pipefail

mib=256 rounds=6
while getopts m:r: o; do
	case $o in
	m) mib=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || {
	echo "usage: bench-builds.sh [-m MIB] [-r ROUNDS] OLD_FERRY NEW_FERRY WORKLOADS_DIR" >&2
	exit 2
}
old=$1 new=$2 wl=$3
for b in "$old" "$new" "$wl/memhog"; do
	[ -x "$b" ] || {
		echo "bench-builds: $b: not an executable" >&2
		exit 2
	}
done
# The workloads get none of our fds (restore refuses pipes that lead out of the tree).
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

work=$(mktemp -d /var/tmp/ferry-bench-builds.XXXXXX)
trap 'rm -rf "$work"' EXIT
now_ms() { date +%s%N | awk '{ printf "%.3f", $1 / 1e6 }'; }

wait_line() { # FILE PATTERN
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-builds: no '$2' in $1" >&2
	return 1
}

one_round() { # LABEL FERRY
	local label=$1 ferry=$2 out=$work/m.out img=$work/img pid t0 t1 t2 frozen
	rm -rf "$img" "$out"
	"$wl/memhog" "$mib" </dev/null >"$out" 2>&1 &
	pid=$!
	wait_line "$out" ready
	t0=$(now_ms)
	"$ferry" dump --leave-running -t "$pid" -D "$img" 2>/dev/null
	t1=$(now_ms)
	frozen=$("$ferry" decode -i "$img/stats-dump" 2>/dev/null | grep -o '"frozen_time": *[0-9]*' | grep -o '[0-9]*$')
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	: >"$out"
	t2=$(now_ms)
	"$ferry" restore -d -D "$img" 2>/dev/null
	t3=$(now_ms)
	kill -USR1 "$pid"
	wait_line "$out" "verify ok" || {
		cat "$out" >&2
		return 1
	}
	kill -9 "$pid"
	echo "$label $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $((frozen / 1000)) $(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')" >>"$work/results"
}

echo "bench-builds: $mib MiB memhog, $rounds rounds each, ABBA; old $old, new $new"
for r in $(seq "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then
		one_round old "$old" && one_round new "$new"
	else
		one_round new "$new" && one_round old "$old"
	fi
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'; }
printf '%-26s %8s %13s %8s %13s %8s\n' "median (range)" old "" new "" new/old
for col in 2:"dump --leave-running, ms" 3:"frozen (stats-dump), ms" 4:"restore -d, ms"; do
	c=${col%%:*} name=${col#*:}
	o=$(awk -v c="$c" '$1 == "old" { print $c }' "$work/results" | median)
	n=$(awk -v c="$c" '$1 == "new" { print $c }' "$work/results" | median)
	or=$(awk -v c="$c" '$1 == "old" { print $c }' "$work/results" | range)
	nr=$(awk -v c="$c" '$1 == "new" { print $c }' "$work/results" | range)
	printf '%-26s %8.1f %13s %8.1f %13s %8.2f\n' "$name" "$o" "($or)" "$n" "($nr)" \
		"$(awk -v a="$o" -v b="$n" 'BEGIN { print (a > 0) ? b / a : 0 }')"
done
