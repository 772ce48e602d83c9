#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vm-run.sh: run a shell script as the only job of a throw-away qemu VM with
# another kernel (scripts/vm-kernel.sh fetches Debian 12's 6.1), for the tests
# that need a kernel feature this host lacks (selftests/test_vm.c).
#
#   vm-run.sh -k VMLINUZ -i INIT -o OUTDIR [-t TIMEOUT_S] [-m MEM_MIB]
#             [-f HOSTPATH[:GUESTPATH]]... SCRIPT
#
# OUTDIR/initramfs.gz holds INIT (selftests/vm/init.c) as /init, bash and a
# few tools with their shared libraries, every -f file (default guest path:
# the host path; a dynamic ELF brings its libraries; a directory is copied
# into GUESTPATH file by file) and SCRIPT as /test.sh, which init runs with
# /bin/bash. qemu runs under TCG (FERRY_VM_ACCEL overrides -accel) with the
# serial console in OUTDIR/console.log, killed after TIMEOUT_S (300) seconds.
# The guest's output, without firmware banners, kernel messages and terminal
# escapes, goes to stdout. Exit status: the script's (from init's
# "FERRY-VM-EXIT <rc>" line), or 3 when the VM did not report one (bad
# arguments, qemu failure, timeout, panic), with the reason on stderr.
set -uo pipefail

TOOLS=(bash cat grep sleep ls mkdir rm ln head tail wc sed cmp sync seq od uname)

usage() {
	echo "usage: vm-run.sh -k VMLINUZ -i INIT -o OUTDIR [-t TIMEOUT_S] [-m MEM_MIB]" \
		"[-f HOSTPATH[:GUESTPATH]]... SCRIPT" >&2
	exit 3
}

die() {
	echo "vm-run: $*" >&2
	exit 3
}

kernel='' init='' out='' timeout_s=300 mem=1024
files=()
while getopts 'k:i:o:t:m:f:h' opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	i) init=$OPTARG ;;
	o) out=$OPTARG ;;
	t) timeout_s=$OPTARG ;;
	m) mem=$OPTARG ;;
	f) files+=("$OPTARG") ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] && [ -n "$kernel" ] && [ -n "$init" ] && [ -n "$out" ] || usage
script=$1
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "-t $timeout_s: not a number of seconds"
[[ $mem =~ ^[1-9][0-9]*$ ]] || die "-m $mem: not a number of MiB"
[ -r "$kernel" ] || die "kernel $kernel: not readable (scripts/vm-kernel.sh makes it)"
[ -x "$init" ] || die "init $init: not executable (make BUILD=... BUILD/vm/init)"
[ -r "$script" ] || die "script $script: not readable"
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

mkdir -p "$out" || die "cannot create $out"
root=$out/root
rm -rf "$root" && mkdir -p "$root" || die "cannot create $root"
declare -A have_lib=()

is_elf() {
	[ "$(head -c 4 "$1" 2>/dev/null | tr -d '\0')" = $'\x7fELF' ]
}

# The shared libraries of ELF file $1 and its loader, at their host paths.
add_libs() {
	local line lib

	# ldd fails on static programs ("not a dynamic executable"): nothing to add.
	while read -r line; do
		case $line in
		*"=> not found"*) die "$1: library ${line%% *} not found" ;;
		esac
		lib=$(grep -o '/[^ ]*' <<<"$line" | head -n 1)
		[ -n "$lib" ] || continue
		[ -z "${have_lib[$lib]:-}" ] || continue
		have_lib[$lib]=1
		mkdir -p "$root${lib%/*}" && cp -L "$lib" "$root$lib" || die "cannot copy $lib"
	done < <(ldd "$1" 2>/dev/null)
}

# add HOST GUEST: one file (with its libraries) or a directory's files.
add() {
	local host=$1 guest=$2 f

	[[ $guest == /* ]] || die "guest path $guest is not absolute"
	if [ -d "$host" ]; then
		while IFS= read -r -d '' f; do
			add "$f" "$guest/${f#"$host"/}"
		done < <(find "$host" -mindepth 1 \( -type f -o -type l \) -print0)
		return
	fi
	[ -e "$host" ] || die "$host: no such file"
	mkdir -p "$root${guest%/*}" && cp -L "$host" "$root$guest" || die "cannot copy $host to $guest"
	if is_elf "$host"; then
		add_libs "$host"
	fi
}

mkdir -p "$root"/{bin,usr/bin,dev,proc,sys,tmp,run,root} || die "cannot populate $root"
add "$init" /init
chmod 0755 "$root/init"
for t in "${TOOLS[@]}"; do
	path=$(type -P "$t") || die "$t not found on this host"
	add "$path" "/bin/$t"
done
ln -sf bash "$root/bin/sh" # the tests' t_run() and popen() use /bin/sh -c
for f in "${files[@]}"; do
	case $f in
	*:*) add "${f%%:*}" "${f#*:}" ;;
	*) add "$(realpath -s "$f")" "$(realpath -s "$f")" ;;
	esac
done
add "$script" /test.sh

initrd=$out/initramfs.gz
(cd "$root" && find . -mindepth 1 -print0 | cpio --null -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$initrd.tmp" && mv "$initrd.tmp" "$initrd" || die "cannot build $initrd"

console=$out/console.log
start=$(date +%s.%N)
timeout -k 10 "$timeout_s" "$qemu" -accel "${FERRY_VM_ACCEL:-tcg}" -cpu max -smp 2 -m "$mem" \
	-display none -monitor none -serial "file:$console" -no-reboot -nic none \
	-kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
	</dev/null >"$out/qemu.log" 2>&1
qrc=$?
end=$(date +%s.%N)

# Console text without carriage returns, escape sequences and other controls.
plain() {
	sed -e 's/\r//g' -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' \
		-e 's/\x1b[A-Za-z0-9=>]//g' "$console" | tr -d '\000-\010\013-\037\177'
}

rc=$(plain | sed -n 's/^FERRY-VM-EXIT \([0-9]\+\)$/\1/p' | tail -n 1)
if [ -z "$rc" ]; then
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
		why="timed out after ${timeout_s}s"
	else
		why="qemu exited with status $qrc"
	fi
	{
		echo "vm-run: no FERRY-VM-EXIT line from the guest: $why; last console lines ($console):"
		plain | tail -n 30 | sed 's/^/  | /'
		if [ -s "$out/qemu.log" ]; then
			echo "vm-run: qemu's stderr ($out/qemu.log):"
			tail -n 10 "$out/qemu.log" | sed 's/^/  | /'
		fi
	} >&2
	exit 3
fi

# The guest's own lines: firmware banners (SeaBIOS writes to the VGA, not to
# the serial line, without -nographic; in case it does, its last line is cut
# short and the guest's first one glued to it) and the kernel's messages
# ("[    1.234567] ...") dropped; up to init's exit line, and
# without the empty line init prints ahead of it.
plain | sed -E -e '/^FERRY-VM-EXIT [0-9]+$/,$d' \
	-e '/^\[ *[0-9]+\.[0-9]+\]/d' \
	-e '/^(SeaBIOS \(version|iPXE \(|Machine UUID |Press .* for boot menu|Probing EDD)/d' \
	-e '/^Booting from [A-Za-z ]*\.*$/d' -e 's/^Booting from [A-Za-z ]*\.*//' |
	awk '{ if (held) print ""; held = 0 } /^$/ { held = 1; next } { print }'
awk -v s="$start" -v e="$end" -v rc="$rc" 'BEGIN {
	printf "vm-run: guest exited %d after %.1f s\n", rc, e - s > "/dev/stderr" }'
exit "$rc"
