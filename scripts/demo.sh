#!/usr/bin/env bash
# `make demo`: ferry's main job on a bundled workload, as far as the commands
# have landed. Today: probe the kernel, dump a live workload with
# `ferry dump --leave-running`, read every image back with CRIU's crit and
# with ferry, let the workload check its memory, show that a refused dump
# leaves the target running, then dump it for real (it is killed), restore it
# from the images and let the restored process check its memory again; a
# pre-dump chain, lazy restore from a page server, and last a live migration
# into other namespaces.
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

# The workloads get no fd of whoever runs the demo (a pipe to `tee`, a CI
# runner's): ferry would rightly refuse to restore a pipe that leads out of
# the dumped tree without --inherit-fd. Close every fd above stderr here, and
# start each workload with stdin from /dev/null and its output in a file.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

step "ferry check: the kernel features ferry uses"
"$ferry" check || echo "(some required feature is missing: see above)"

step "start the bundled workload: memhog, 64 MiB of patterned memory"
"$build/workloads/memhog" 64 42 </dev/null >"$work/memhog.out" 2>&1 &
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
	# crit 3.17's creds_entry predates CRIU 4.x's no_new_privs (18) and cap_amb (19),
	# and its thread_core_entry CRIU 4.x's per-thread cg_set (16, the last field it has):
	# it skips them as unknown fields, so they are left out of the comparison.
	"$ferry" decode -i "$f" | sed -E 's/, "no_new_privs": [0-9]+//g; s/, "cap_amb": \[[0-9, ]*\]//g; s/, "cg_set": [0-9]+\}/}/g' | tr ',' '\n' >"$work/ferry.json"
	crit decode -i "$f" | tr ',' '\n' >"$work/crit.json"
	if ! cmp -s "$work/ferry.json" "$work/crit.json"; then
		echo "ferry decode and crit decode differ on $f (ferry <, crit >):" >&2
		diff "$work/ferry.json" "$work/crit.json" | head -8 >&2
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
"$build/workloads/fdkinds" socket </dev/null >"$work/fdkinds.out" 2>&1 &
spid=$!
disown
pids+=("$spid")
sleep 0.3
"$ferry" dump -t "$spid" -D "$work/img2" 2>&1 || echo "(exit status $?, as expected)"
grep State "/proc/$spid/status"

step "binary log: a dump logged with --binlog, printed back"
"$ferry" dump -t "$pid" -D "$work/img3" --leave-running -v3 --log-file "$work/dump.binlog" --binlog
"$ferry" show-log "$work/dump.binlog" | tail -n 3

step "ferry dirtyrate: a workload dirtying 5000 pages/s, measured for 1 s (PAGEMAP_SCAN and BPF)"
"$build/workloads/dirtier" --rate 5000 --pages 8192 </dev/null >"$work/dirtier.out" 2>&1 &
dpid=$!
pids+=("$dpid")
for _ in $(seq 100); do grep -q ready "$work/dirtier.out" && break; sleep 0.05; done
"$ferry" dirtyrate -t "$dpid" --interval 250 --duration 1 --plot "$work/dirtyrate.svg"
kill "$dpid"

step "iterative dump without soft-dirty: two pre-dumps while memhog runs, then a final dump"
"$ferry" pre-dump -t "$pid" -D "$work/pre1" -v3 2>&1 | grep -E "armed|pages written"
kill -USR2 "$pid" # memhog rewrites its whole mapping: round 2 copies it again
sleep 0.3
"$ferry" pre-dump -t "$pid" -D "$work/pre2" --prev-images-dir ../pre1 -v3 2>&1 | grep -E "round|pages written"
"$ferry" dump -t "$pid" -D "$work/img4" --prev-images-dir ../pre2 -v3 2>&1 | grep -E "round|done|frozen|parent images"
sleep 0.2
if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ]; then
	echo "pid $pid still runs after the dump" >&2
	exit 1
fi
wait "$pid" 2>/dev/null || true
echo "pid $pid is gone; restoring it from the chain img4 -> pre2 -> pre1"
"$ferry" restore -D "$work/img4" -v3 2>&1 &
fpid=$!
pids+=("$fpid")
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
grep -E "^(Name|State|Pid|PPid|Threads)" "/proc/$pid/status"
before=$(grep -c "verify ok" "$work/memhog.out")
kill -USR1 "$pid"
for _ in $(seq 100); do [ "$(grep -c "verify ok" "$work/memhog.out")" -gt "$before" ] && break; sleep 0.1; done
[ "$(grep -c "verify ok" "$work/memhog.out")" -gt "$before" ] || { echo "the restored memhog did not verify" >&2; exit 1; }
echo "restored memhog: $(grep verify "$work/memhog.out" | tail -n 1)"
kill -9 "$pid"
wait "$fpid" || echo "(ferry restore exited with $?: its restored root was killed by SIGKILL)"

step "lazy restore: memhog resumes at once; its pages come from a page server as it touches them"
"$ferry" page-server -D "$work/img4" --port 0 >"$work/ps.out" 2>"$work/ps.err" &
spid=$!
pids+=("$spid")
for _ in $(seq 100); do grep -q listening "$work/ps.out" && break; sleep 0.05; done
cat "$work/ps.out"
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/ps.out")
"$ferry" restore -D "$work/img4" --lazy-pages --page-server "127.0.0.1:$port" -v3 \
	--log-file "$work/lazy.log" &
fpid=$!
pids+=("$fpid")
for _ in $(seq 200); do grep -q "restored pid" "$work/lazy.log" 2>/dev/null && break; sleep 0.05; done
# Its stdout goes on at the offset it had when dumped, over what the last restore
# wrote there: empty the file to see the new verdict.
: >"$work/memhog.out"
kill -USR1 "$pid"
for _ in $(seq 200); do grep -aq "verify ok" "$work/memhog.out" && break; sleep 0.1; done
grep -aq "verify ok" "$work/memhog.out" || { echo "the lazily restored memhog did not verify" >&2; cat "$work/lazy.log" >&2; exit 1; }
echo "lazily restored memhog: $(grep -a verify "$work/memhog.out" | tr -d '\0' | tail -n 1)"
for _ in $(seq 200); do grep -q "lazy-pages: done" "$work/lazy.log" && break; sleep 0.1; done
grep -E "restored pid|lazy-pages: done" "$work/lazy.log" | fold -s -w 100
kill -9 "$pid"
wait "$fpid" || echo "(ferry restore exited with $?: its restored root was killed by SIGKILL)"
wait "$spid" && echo "page server: session over, exit 0"

step "live migration: scribbler (never stops writing) moves to another network, pid and mount namespace"
ns=ferry-demo-$$
veth=fdm$(($$ % 100000))
if ip netns add "$ns" 2>/dev/null; then
	cleanup_ns() {
		ip netns del "$ns" 2>/dev/null || true
		ip link del "$veth" 2>/dev/null || true
	}
	trap 'cleanup; cleanup_ns' EXIT
	ip link add "$veth" type veth peer name "${veth}p"
	ip link set "${veth}p" netns "$ns"
	ip addr add 10.79.$(($$ % 250 + 1)).1/24 dev "$veth"
	ip link set "$veth" up
	there=10.79.$(($$ % 250 + 1)).2
	ip netns exec "$ns" ip addr add "$there/24" dev "${veth}p"
	ip netns exec "$ns" ip link set "${veth}p" up
	ip netns exec "$ns" ip link set lo up
	head -c 32 /dev/urandom | base64 >"$work/secret"
	chmod 600 "$work/secret"
	"$build/workloads/scribbler" 4096 20 </dev/null >"$work/scribbler.out" 2>&1 &
	wpid=$!
	disown
	pids+=("$wpid")
	for _ in $(seq 100); do grep -q ready "$work/scribbler.out" && break; sleep 0.05; done
	# The destination is pid 1 of its own pid namespace: the scribbler keeps its pid there.
	setsid ip netns exec "$ns" unshare -p -f --mount-proc "$ferry" migrate --incoming \
		--address "$there" --port 0 --secret-file "$work/secret" --lazy-pages \
		>"$work/dest.out" 2>"$work/dest.err" &
	dest=$!
	for _ in $(seq 100); do grep -q listening "$work/dest.out" && break; sleep 0.05; done
	cat "$work/dest.out"
	port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/dest.out")
	"$ferry" migrate -t "$wpid" --to "$there:$port" --secret-file "$work/secret"
	for _ in $(seq 100); do grep -q "tree runs" "$work/dest.out" && break; sleep 0.05; done
	grep "tree runs" "$work/dest.out"
	copy=
	for st in /proc/[0-9]*/status; do
		if grep -qE "^NSpid:\s+[0-9]+\s+$wpid\$" "$st" 2>/dev/null; then
			copy=$(basename "$(dirname "$st")")
		fi
	done
	[ -n "$copy" ] || { echo "no copy of pid $wpid on the destination" >&2; cat "$work/dest.err" >&2; exit 1; }
	echo "the source pid $wpid is $(kill -0 "$wpid" 2>/dev/null && echo "still there" || echo gone); its copy runs as pid $copy here, $wpid in its namespace"
	kill -USR1 "$copy"
	for _ in $(seq 100); do grep -aq "verify" "$work/scribbler.out" && break; sleep 0.1; done
	grep -aq "verify ok" "$work/scribbler.out" || { echo "the migrated scribbler did not verify" >&2; exit 1; }
	echo "migrated scribbler: $(grep -a verify "$work/scribbler.out" | tail -n 1)"
	kill -9 -- -"$dest" 2>/dev/null || true
	wait "$dest" 2>/dev/null || true
	cleanup_ns
else
	echo "(cannot make a network namespace here: skipped)"
fi

echo
echo "demo: done"
