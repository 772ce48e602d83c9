#!/usr/bin/env bash
# `make demo`: ferry's main job on a bundled workload, as far as the commands
# have landed. Today: probe the kernel, then decode images of a live workload
# that CRIU's own tool (crit) wrote, and check ferry reads them as crit does.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
ferry=$build/ferry
work=$(mktemp -d /tmp/ferry-demo-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "ferry check: the kernel features ferry uses"
"$ferry" check || echo "(some required feature is missing: see above)"

step "start the bundled workload ($build/workloads/counter)"
"$build/workloads/counter" >"$work/counter.out" &
pid=$!
sleep 1
tail -n 2 "$work/counter.out"

step "describe its process tree and write it as a CRIU image with crit encode"
read -r _ ppid pgid sid _ < <(cut -d")" -f2 "/proc/$pid/stat")
threads=$(ls "/proc/$pid/task" | paste -sd, -)
cat >"$work/pstree.json" <<JSON
{"magic": "PSTREE", "entries": [{"pid": $pid, "ppid": $ppid, "pgid": $pgid, "sid": $sid, "threads": [$threads]}]}
JSON
crit encode -i "$work/pstree.json" -o "$work/pstree.img"
xxd "$work/pstree.img" | head -n 2

step "ferry decode reads it (and prints what crit decode prints)"
"$ferry" decode -i "$work/pstree.img" --pretty
if [ "$("$ferry" decode -i "$work/pstree.img")" = "$(crit decode -i "$work/pstree.img")" ]; then
	echo "ferry decode == crit decode: identical"
else
	echo "ferry decode and crit decode differ" >&2
	exit 1
fi

step "a corrupted copy is refused with the file and byte offset"
head -c 14 "$work/pstree.img" >"$work/truncated.img"
"$ferry" decode -i "$work/truncated.img" || echo "(exit status $?, as expected)"

step "binary log: the same decode with --binlog, printed back"
"$ferry" decode -i "$work/pstree.img" -v4 --log-file "$work/run.binlog" --binlog >/dev/null
"$ferry" show-log "$work/run.binlog" | tail -n 3

echo
echo "demo: done (dump, restore, lazy pages and migration join this demo as they land)"
