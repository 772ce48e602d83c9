#!/usr/bin/env bash
# `make demo`: ferry's main job on a bundled workload, as far as the commands
# have landed. Today: probe the kernel, dump a live multi-threaded workload
# with `ferry dump --leave-running`, read every image back with CRIU's crit and
# with ferry, check the dumped memory against the workload's own pattern, and
# show that a refused dump leaves the target running.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
ferry=$build/ferry
work=$(mktemp -d /tmp/ferry-demo-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "ferry check: the kernel features ferry uses"
"$ferry" check || echo "(some required feature is missing: see above)"

step "start the bundled workload: memhog, 64 MiB of patterned memory"
"$build/workloads/memhog" 64 42 >"$work/memhog.out" &
pid=$!
disown
pids+=("$pid")
for _ in $(seq 100); do grep -q ready "$work/memhog.out" && break; sleep 0.1; done
cat "$work/memhog.out"

step "ferry dump -t $pid -D img --leave-running -v3"
"$ferry" dump -t "$pid" -D "$work/img" --leave-running -v3 2>&1
ls -l "$work/img"

step "every image decodes with crit (CRIU's decoder) and ferry decode prints the same"
for f in "$work"/img/*; do
	case $(basename "$f") in
	pages-*) continue ;;
	pagemap-*)
		# crit 3.17 knows field 2 as nr_pages and not CRIU 4.x's field 5: compare counts.
		crit decode -i "$f" | grep -o '"nr_pages": [0-9]*' >"$work/crit.n"
		"$ferry" decode -i "$f" | grep -o '"nr_pages": [0-9]*' >"$work/ferry.n"
		cmp -s "$work/crit.n" "$work/ferry.n" || { echo "page counts differ in $f" >&2; exit 1; }
		printf '  %-22s ok (%s entries, same page counts)\n' "$(basename "$f")" "$(wc -l <"$work/ferry.n")"
		continue
		;;
	esac
	if [ "$("$ferry" decode -i "$f")" != "$(crit decode -i "$f")" ]; then
		echo "ferry decode and crit decode differ on $f" >&2
		exit 1
	fi
	printf '  %-22s ok\n' "$(basename "$f")"
done
crit decode -i "$work/img/stats-dump" --pretty | sed -n '1,16p'

step "the workload runs on and checks its own memory (SIGUSR1)"
kill -USR1 "$pid"
for _ in $(seq 100); do grep -q verify "$work/memhog.out" && break; sleep 0.1; done
grep verify "$work/memhog.out"

step "a process with a socket is refused, named, and left running"
"$build/workloads/fdkinds" socket >"$work/fdkinds.out" &
spid=$!
disown
pids+=("$spid")
sleep 0.3
"$ferry" dump -t "$spid" -D "$work/img2" 2>&1 || echo "(exit status $?, as expected)"
grep State "/proc/$spid/status"

step "binary log: a dump logged with --binlog, printed back"
"$ferry" dump -t "$pid" -D "$work/img3" --leave-running -v3 --log-file "$work/dump.binlog" --binlog
"$ferry" show-log "$work/dump.binlog" | tail -n 3

echo
echo "demo: done (restore, lazy pages and migration join this demo as they land)"
