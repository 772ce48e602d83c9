#!/usr/bin/env bash
# Install the Debian packages ferry needs to build, test and demo. Idempotent:
# installs only what is missing, with apt-get only. Needs root (or sudo).
set -euo pipefail

PKGS=(
	make gcc clang llvm pkg-config
	libbpf-dev libelf-dev zlib1g-dev bpftool
	protobuf-c-compiler libprotobuf-c-dev
	liburing-dev libcriterion-dev libssl-dev
	criu python3-protobuf
	libclang-rt-14-dev
	asn1c libtasn1-bin openssl
	iproute2 nftables sqlite3 tmux less vim nodejs
	python3 redis-server nginx postgresql memcached
	qemu-system-x86 cpio
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
