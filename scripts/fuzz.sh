#!/usr/bin/env bash
# Run each libFuzzer target for $2 seconds (default 60) on its seed corpus.
# Fails if any target finds a crash, a leak or undefined behaviour.
set -uo pipefail
build=${1:-build}
secs=${2:-60}
cd "$(dirname "$0")/.."

# Seeds: real images and a real binlog, made by crit and ferry themselves.
seed_dir="$build/fuzz-corpus"
if [ ! -e "$seed_dir/.seeded" ] && [ -x "$build/ferry" ] && command -v crit >/dev/null; then
	mkdir -p "$seed_dir/fuzz_img" "$seed_dir/fuzz_binlog"
	i=0
	for json in \
		'{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1, 2]}]}' \
		'{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 4096, "nr_pages": 2, "flags": 4}]}' \
		'{"magic": "PIPES_DATA", "entries": [{"pipe_id": 3, "bytes": 4, "extra": "YWJjZA==\n"}]}' \
		'{"magic": "INVENTORY", "entries": [{"img_version": 2, "fdinfo_per_id": true}]}' \
		'{"magic": "TCP_STREAM", "entries": [{"inq_len": 3, "inq_seq": 1, "outq_len": 2, "outq_seq": 2, "opt_mask": 0, "snd_wscale": 7, "mss_clamp": 1460, "extra": {"inq": "YWJj\n", "outq": "ZGU=\n"}}]}' \
		'{"magic": "SK_QUEUES", "entries": [{"id_for": 5, "length": 4, "extra": "cGluZw==\n"}]}' \
		'{"magic": "IPCNS_SEM", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 384, "id": 7}, "nsems": 3, "extra": [1, 2, 3]}]}' \
		'{"magic": "IPCNS_MSG", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 384, "id": 8}, "qbytes": 16384, "qnum": 1, "extra": [{"mtype": 1, "msize": 5}, "aGVsbG8=\n"]}]}' \
		'{"magic": "GHOST_FILE", "entries": [{"uid": 0, "gid": 0, "mode": 33188, "chunks": true, "size": 8192}, {"len": 4, "off": 4096, "extra": "Z2hvcw==\n"}]}' \
		'{"magic": "SECCOMP", "entries": [{"seccomp_filters": [{"filter": "BgAAAAAA/38=\n"}]}]}' \
		'{"magic": "TIMENS", "entries": [{"monotonic": {"tv_sec": 10, "tv_nsec": 5}, "boottime": {"tv_sec": 11, "tv_nsec": 6}}]}'; do
		echo "$json" >"$seed_dir/seed.json"
		crit encode -i "$seed_dir/seed.json" -o "$seed_dir/fuzz_img/seed$i" 2>/dev/null || true
		i=$((i + 1))
	done
	"$build/ferry" decode -i "$seed_dir/fuzz_img/seed0" -v4 --log-file "$seed_dir/fuzz_binlog/seed0" --binlog >/dev/null || true
	touch "$seed_dir/.seeded"
fi

status=0
for f in "$build"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus="$build/fuzz-corpus/$name"
	mkdir -p "$corpus"
	[ -d "selftests/fuzz/corpus/$name" ] && cp -n selftests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$build/fuzz/$name-" "$corpus" >"$build/fuzz/$name.log" 2>&1; then
		echo "fuzz: $name FAILED, see $build/fuzz/$name.log:"
		tail -n 40 "$build/fuzz/$name.log"
		status=1
	else
		grep -E '^Done|stat::number_of_executed_units' "$build/fuzz/$name.log" | tail -n 1
	fi
done
exit $status
