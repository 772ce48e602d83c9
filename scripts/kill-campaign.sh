#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# kill-campaign.sh - SIGKILL ferry at random moments of `dump --leave-running`,
# `pre-dump` and `track` and check that the target never notices: a killed
# ferry must leave it alive, running (not stopped), untraced, with its memory
# and registers intact (issue 16, item 1). And of `restore -d` and `restore -d
# --lazy-pages` of a dump of it: a killed restore is all or nothing, either no
# process of the tree is left or the tree runs on exactly its memory.
#
#   scripts/kill-campaign.sh [-n TRIALS]
#                            [-k dump|bgsnap|predump|track|restore|lazy|all]
#                            [-w WORKLOADS] [-s SEED] [-v] BUILD
#
#   -n TRIALS     trials (default 100)
#   -k KIND       which command to kill (default all: dump, bgsnap, predump,
#                 track, restore and lazy take turns). bgsnap is `dump
#                 --leave-running` too, killed mostly after the release, while
#                 the memory is copied in the background (write-protected
#                 with a userfaultfd only ferry holds): the target must also
#                 have no VMA left registered for uffd-wp ("uw" in smaps)
#   -w WORKLOADS  comma-separated self-verifying workloads of BUILD/workloads
#                 (default memhog,scribbler,fpu,threads): each trial starts a
#                 fresh one
#   -s SEED       seed of the random delays (default: the time)
#   -v            one line per trial
#
# Each (command, workload) pair is first run once unkilled to learn how long
# it takes (D) and when the target is traced (frozen, remote calls: T0..T1).
# A trial starts the command and SIGKILLs it after a random delay: one trial
# in three in the first 3 ms, one in T0..T1, one anywhere in [0, 1.2 D].
# Then the target must, within 2 s,
# be in state S, R or D with TracerPid 0, and answer SIGUSR1 with its
# "verify ok" line. For restore and lazy the workload is dumped first (which
# ends it) and the restore is killed; its pid must then be gone (nothing of a
# half-made tree left: a zombie nobody reaps counts as gone) or be the whole
# restored workload, which must pass the same checks. Tracking a killed pre-dump or track left armed is stopped
# with `ferry track -t PID --stop` before the check (leftover tracking is a
# separate matter; a killed ferry must never kill or corrupt the target).
#
# Prints one summary line:
#   kill-campaign: N passed, M failed (survivors S, corrupted C, lost L,
#   stuck K; ferry killed mid-run X times, done before the kill Y times)
# and exits 0 if nothing failed. Needs root (ptrace of any process).
set -uo pipefail

trials=100
kinds=all
workloads=memhog,scribbler,fpu,threads
seed=$(date +%s%N)
verbose=0
usage() {
	sed -n '11,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts "n:k:w:s:vh" o; do
	case $o in
	n) trials=$OPTARG ;;
	k) kinds=$OPTARG ;;
	w) workloads=$OPTARG ;;
	s) seed=$OPTARG ;;
	v) verbose=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
build=$(cd "$1" && pwd) || exit 2
ferry=$build/ferry
[ -x "$ferry" ] || { echo "kill-campaign: no $ferry" >&2; exit 2; }
case $kinds in
all) kinds=(dump bgsnap predump track restore lazy) ;;
dump | bgsnap | predump | track | restore | lazy) kinds=("$kinds") ;;
*) usage ;;
esac
IFS=, read -ra wls <<<"$workloads"
for w in "${wls[@]}"; do
	[ -x "$build/workloads/$w" ] || { echo "kill-campaign: no workload $w" >&2; exit 2; }
done
RANDOM=$((seed % 32768))
# Workloads and ferry inherit nothing of the caller's (a test runner's fds
# would make ferry refuse the dump); 255 is bash's own script fd.
for f in /proc/$$/fd/*; do
	f=${f##*/}
	((f > 2 && f != 255)) && eval "exec $f>&-"
done

tmp=$(mktemp -d /tmp/kill-campaign.XXXXXX)
wl_pid=0
cleanup() {
	[ "$wl_pid" -gt 0 ] && kill -9 "$wl_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# A builtin sleep (read -t on a pipe nobody writes): no fork, sub-millisecond.
exec {idle}<> <(:)
nap() { read -r -t "$1" -u "$idle"; }

# Sleep $1 microseconds.
nap_us() {
	local s
	printf -v s '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000))
	nap "$s"
}
now_us() { # sets NOW, without a fork
	local t=${EPOCHREALTIME/[.,]/}
	NOW=$((10#$t))
}

# Is $1 traced now? (builtins only: cheap enough to poll)
traced() {
	local k v
	while read -r k v; do
		[ "$k" = TracerPid: ] && { [ "$v" != 0 ]; return; }
	done 2>/dev/null <"/proc/$1/status"
	return 1
}

start_workload() { # $1 name, $2 output file; sets wl_pid
	local args
	case $1 in
	memhog) args=(16) ;;
	scribbler) args=(1024) ;;
	threads) args=(4) ;;
	bgwriter) args=(16384 5000) ;;
	*) args=() ;;
	esac
	: >"$2"
	setsid "$build/workloads/$1" "${args[@]}" >"$2" 2>&1 </dev/null {idle}<&- &
	wl_pid=$!
	for _ in $(seq 500); do
		grep -q ready "$2" && return 0
		nap 0.01
	done
	echo "kill-campaign: workload $1 did not start" >&2
	return 1
}

stop_workload() {
	kill -9 "$wl_pid" 2>/dev/null
	{ wait "$wl_pid"; } 2>/dev/null
	wl_pid=0
}

# Become the ferry command of kind $1 against pid $2 with image dir $3.
run_ferry() {
	case $1 in
	dump | bgsnap) exec "$ferry" dump -t "$2" -D "$3" --leave-running ;;
	predump) exec "$ferry" pre-dump -t "$2" -D "$3" ;;
	track) exec "$ferry" track -t "$2" ;;
	restore) exec "$ferry" restore -d -D "$3" ;;
	lazy) exec "$ferry" restore -d --lazy-pages -D "$3" ;;
	esac
}

is_restore() { [ "$1" = restore ] || [ "$1" = lazy ]; }

# For restore and lazy: dump the workload $wl_pid into $1 (which ends it).
dump_for_restore() {
	rm -rf "$1"
	if ! "$ferry" dump -t "$wl_pid" -D "$1" >"$tmp/dump.log" 2>&1; then
		echo "kill-campaign: dump of the workload failed:" >&2
		tail -5 "$tmp/dump.log" >&2
		return 1
	fi
	{ wait "$wl_pid"; } 2>/dev/null
	return 0
}

# State letter and TracerPid of $1 ("X 0" if gone).
proc_state() {
	local st tr
	st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
	tr=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	echo "${st:-X} ${tr:-0}"
}

# Calibration: how long each pair takes when nobody kills it, and when the
# target is traced (us from the start).
declare -A dur tr0 tr1
for k in "${kinds[@]}"; do
	for w in "${wls[@]}"; do
		start_workload "$w" "$tmp/cal.out" || exit 1
		rm -rf "$tmp/img"
		if is_restore "$k"; then
			dump_for_restore "$tmp/img" || exit 1
		fi
		now_us
		t0=$NOW
		run_ferry "$k" "$wl_pid" "$tmp/img" >"$tmp/cal.log" 2>&1 &
		fp=$!
		a=0 b=0
		while kill -0 "$fp" 2>/dev/null; do
			if traced "$wl_pid"; then
				now_us
				[ $a = 0 ] && a=$((NOW - t0))
				b=$((NOW - t0))
			fi
		done
		wait "$fp"
		rc=$?
		now_us
		dur[$k.$w]=$((NOW - t0))
		tr0[$k.$w]=$a tr1[$k.$w]=$((b > a ? b : a + 1000))
		case $k in predump | track) "$ferry" track -t "$wl_pid" --stop >/dev/null 2>&1 ;; esac
		stop_workload
		if [ $rc -ne 0 ]; then
			echo "kill-campaign: calibration: ferry $k of $w failed ($rc):" >&2
			tail -5 "$tmp/cal.log" >&2
			exit 1
		fi
		echo "kill-campaign: $k of $w takes $((dur[$k.$w] / 1000)) ms unkilled," \
			"traced from $((a / 1000)) to $((b / 1000)) ms"
	done
done

passed=0 corrupted=0 lost=0 stuck=0 killed=0 finished=0 none=0
for ((i = 0; i < trials; i++)); do
	k=${kinds[i % ${#kinds[@]}]}
	w=${wls[(i / ${#kinds[@]}) % ${#wls[@]}]}
	out=$tmp/wl.out
	start_workload "$w" "$out" || exit 1
	pid=$wl_pid
	r=$((RANDOM * 32768 + RANDOM))
	case $((RANDOM % 3)) in
	0) delay=$((r % 3000)) ;;
	1) delay=$((tr0[$k.$w] + r % (tr1[$k.$w] - tr0[$k.$w] + 1))) ;;
	2) delay=$((r % (dur[$k.$w] * 12 / 10 + 1))) ;;
	esac
	# bgsnap: two trials in three after the release, while the memory is copied.
	if [ "$k" = bgsnap ] && ((RANDOM % 3)); then
		delay=$((tr1[$k.$w] + r % (dur[$k.$w] - tr1[$k.$w] + 1)))
	fi
	rm -rf "$tmp/img"
	if is_restore "$k"; then
		dump_for_restore "$tmp/img" || exit 1
		wl_pid=0
	fi
	now_us
	t0=$NOW
	run_ferry "$k" "$pid" "$tmp/img" >"$tmp/ferry.log" 2>&1 &
	fp=$!
	nap_us "$delay"
	kill -9 "$fp" 2>/dev/null
	now_us
	at=$((NOW - t0))
	{ wait "$fp"; } 2>/dev/null
	rc=$?
	if [ $rc -eq 137 ]; then
		killed=$((killed + 1))
		how=killed
	else
		finished=$((finished + 1))
		how="exit $rc"
	fi

	verdict=
	for _ in $(seq 200); do
		read -r st tr <<<"$(proc_state "$pid")"
		case $st in
		X | Z) verdict=lost ;;
		S | R | D) [ "$tr" = 0 ] && verdict=ok ;;
		esac
		# A killed restore may leave nothing: all or nothing holds.
		[ "$verdict" = lost ] && is_restore "$k" && verdict=none
		[ -n "$verdict" ] && break
		nap 0.01
	done
	[ -z "$verdict" ] && verdict="stuck (state $st, TracerPid $tr)"
	if [ "$verdict" = ok ] && [ "$k" = bgsnap ] && grep -q '^VmFlags:.* uw' "/proc/$pid/smaps"; then
		verdict="stuck: memory still registered for uffd-wp"
	fi
	if [ "$verdict" = ok ]; then
		case $k in predump | track) "$ferry" track -t "$pid" --stop >>"$tmp/ferry.log" 2>&1 ;; esac
		before=$(grep -c "verify" "$out")
		kill -USR1 "$pid"
		verdict="no verdict"
		for _ in $(seq 500); do
			if [ "$(grep -c "verify" "$out")" -gt "$before" ]; then
				if tail -n +$((before + 1)) "$out" | grep -q "verify ok"; then
					verdict=ok
				else
					verdict="corrupted: $(grep verify "$out" | tail -1)"
				fi
				break
			fi
			read -r st tr <<<"$(proc_state "$pid")"
			case $st in X | Z) verdict=lost && break ;; esac
			nap 0.01
		done
	fi
	if [ "$verdict" = lost ] && is_restore "$k"; then
		verdict="lost (the restored tree died)"
	elif [ "$verdict" = lost ]; then
		{ wait "$pid"; } 2>/dev/null
		ws=$?
		verdict="lost (exit status $ws$( ((ws > 128)) && echo ", $(kill -l $((ws - 128)))"))"
		wl_pid=0
	fi
	case $verdict in
	ok) passed=$((passed + 1)) ;;
	none) passed=$((passed + 1)) none=$((none + 1)) ;;
	corrupted* | "no verdict") corrupted=$((corrupted + 1)) ;;
	lost*) lost=$((lost + 1)) ;;
	*) stuck=$((stuck + 1)) ;;
	esac
	line="trial $i: $k of $w ($pid), kill at $((at / 1000)).$(printf '%03d' $((at % 1000))) ms (aimed at $((delay / 1000)).$(printf '%03d' $((delay % 1000)))): ferry $how; target $verdict"
	if [ "$verdict" != ok ] && [ "$verdict" != none ]; then
		echo "$line"
		echo "  ferry's last words:" && tail -3 "$tmp/ferry.log" | sed 's/^/    /'
		echo "  workload's:" && tail -3 "$out" | sed 's/^/    /'
	elif [ $verbose = 1 ]; then
		echo "$line"
	fi
	[ "$wl_pid" -gt 0 ] && stop_workload
	# A restored tree is not our child: end it by its pid.
	is_restore "$k" && kill -9 "$pid" 2>/dev/null
done
failed=$((trials - passed))
echo "kill-campaign: $passed passed, $failed failed (survivors $((passed + corrupted + stuck))," \
	"corrupted $corrupted, lost $lost, stuck $stuck; ferry killed mid-run $killed times," \
	"done before the kill $finished times; a killed restore left nothing $none times;" \
	"seed $seed)"
[ $failed -eq 0 ]
