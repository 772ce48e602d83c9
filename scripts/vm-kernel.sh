#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vm-kernel.sh BUILD_DIR: the guest kernel for the VM tests (scripts/vm-run.sh,
# selftests/test_vm.c). Debian 12's current 6.1 cloud kernel, which has
# soft-dirty but neither uffd WP_ASYNC nor PAGEMAP_SCAN, is unpacked from its
# package into BUILD_DIR/vm/vmlinuz; its version goes to BUILD_DIR/vm/kernel-version.
# Idempotent: nothing is downloaded when both are present.
# Prints the vmlinuz path on stdout. Exit status: 0, or 2 with a one-line
# reason on stderr when the kernel cannot be had (no network, no package, not
# a Debian x86_64 host), so that a test can skip; 1 on a usage error.
set -uo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: vm-kernel.sh BUILD_DIR" >&2
	exit 1
fi
vm=$1/vm
kernel=$vm/vmlinuz
version=$vm/kernel-version

fail() {
	echo "vm-kernel: $*" >&2
	exit 2
}

cached() {
	[ -s "$kernel" ] && [ -s "$version" ]
}

if cached; then
	echo "$kernel"
	exit 0
fi

mkdir -p "$vm" || fail "cannot create $vm"
# Two test runs may ask at once: one downloads, the other waits for it.
exec 9>"$vm/.lock" || fail "cannot open $vm/.lock"
flock 9 || fail "cannot lock $vm/.lock"
if cached; then
	echo "$kernel"
	exit 0
fi

[ "$(uname -m)" = x86_64 ] || fail "the VM kernel is an amd64 one; this host is $(uname -m)"
command -v apt-cache >/dev/null && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
	fail "apt-get, apt-cache and dpkg-deb are needed to fetch Debian's kernel package"

# linux-image-cloud-amd64 depends on the current ABI's package,
# linux-image-6.1.0-NN-cloud-amd64: NN changes with every kernel update.
resolve() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed (no network, or not root?)"
	pkg=$(resolve)
fi
[ -n "$pkg" ] || fail "no linux-image-6.1.*-cloud-amd64 package behind linux-image-cloud-amd64"

tmp=$(mktemp -d "$vm/.fetch-XXXXXX") || fail "cannot create a temporary directory in $vm"
trap 'rm -rf "$tmp"' EXIT
# As root, apt-get warns that the _apt sandbox user cannot write here: harmless.
if ! (cd "$tmp" && apt-get download -q "$pkg") >"$tmp/apt.log" 2>&1; then
	fail "apt-get download $pkg failed: $(grep -m1 -E '^(E|Err):' "$tmp/apt.log" || tail -n 1 "$tmp/apt.log")"
fi
debs=("$tmp"/*.deb)
deb=${debs[0]}
[ -f "$deb" ] || fail "apt-get download $pkg left no .deb"
dpkg-deb -x "$deb" "$tmp/x" || fail "dpkg-deb -x $deb failed"
images=("$tmp"/x/boot/vmlinuz-*)
image=${images[0]}
[ -f "$image" ] || fail "$pkg has no boot/vmlinuz-*"
kver=${image##*/vmlinuz-}
config=$tmp/x/boot/config-$kver
if [ -f "$config" ]; then
	for opt in MEM_SOFT_DIRTY USERFAULTFD BPF_SYSCALL DEVTMPFS SERIAL_8250_CONSOLE; do
		grep -q "^CONFIG_$opt=y" "$config" || fail "$pkg: CONFIG_$opt is not built in"
	done
	cp "$config" "$vm/config" || fail "cannot write $vm/config"
fi

# The kernel first, its version last: cached() sees both or neither.
cp "$image" "$kernel.tmp" && mv "$kernel.tmp" "$kernel" || fail "cannot write $kernel"
echo "$kver" >"$version.tmp" && mv "$version.tmp" "$version" || fail "cannot write $version"
echo "$kernel"
