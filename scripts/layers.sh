#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# layers.sh: the include graph between ferry's folders, checked against its
# layers. Prints one line per edge "FROM -> TO (N includes)" and exits 1 if
# an include points from a lower layer to a higher one, or between the dump
# and the restore side. Run by `make lint`.
#
#   rank 0  bpf/, proto/ (and what the build generates from them)
#   rank 1  user/core                      the shared core
#   rank 2  user/dump user/track user/migrate   the dump side
#           restore restore/lazy restore/pagesrc restore/migrate   the restore side
#   rank 3  user/probe                     the feature probes
#   rank 4  user/cli                       the command line
#
# Within a side any folder may include another of the same side; the two
# sides never include each other. Tests, benchmarks and fuzzers may include
# anything and are not checked.
set -uo pipefail
# LAYERS_ROOT: check another tree laid out the same way (the tests do).
cd "${LAYERS_ROOT:-$(dirname "$0")/..}" || exit 2

declare -A rank side
for d in bpf proto; do rank[$d]=0; side[$d]=base; done
rank[user/core]=1; side[user/core]=base
for d in user/dump user/track user/migrate; do rank[$d]=2; side[$d]=dump; done
for d in restore restore/lazy restore/pagesrc restore/migrate; do rank[$d]=2; side[$d]=restore; done
rank[user/probe]=3; side[user/probe]=top
rank[user/cli]=4; side[user/cli]=top
dirs=(user/core user/dump user/track user/migrate restore restore/lazy restore/pagesrc restore/migrate user/probe user/cli)

# Which folder holds header NAME (as written in an #include "NAME")?
declare -A home
for d in "${dirs[@]}" bpf; do
	for h in "$d"/*.h; do
		[ -e "$h" ] && home[${h#"$d"/}]=$d
	done
done
for p in proto/*.proto; do
	home[$(basename "${p%.proto}").pb-c.h]=proto
done

declare -A edges
bad=0
for d in "${dirs[@]}"; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			case $inc in
			bpf/*) to=bpf ;;
			*.skel.h | *.lskel.h | vmlinux.h) to=bpf ;;
			*) to=${home[$inc]:-} ;;
			esac
			if [ -z "$to" ]; then
				echo "layers: $f includes \"$inc\", which no layer holds" >&2
				bad=1
				continue
			fi
			[ "$to" = "$d" ] && continue
			edges["$d -> $to"]=$((${edges["$d -> $to"]:-0} + 1))
			ok=1
			if [ "${rank[$to]}" -gt "${rank[$d]}" ]; then
				ok=0
			elif [ "${rank[$to]}" -eq "${rank[$d]}" ] && [ "${side[$to]}" != "${side[$d]}" ]; then
				ok=0
			fi
			if [ $ok = 0 ]; then
				echo "layers: $f includes \"$inc\" ($to): ${side[$d]} layer $d (rank ${rank[$d]}) must not include ${side[$to]} layer $to (rank ${rank[$to]})" >&2
				bad=1
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
done

for e in "${!edges[@]}"; do
	echo "$e (${edges[$e]} includes)"
done | sort
if [ $bad != 0 ]; then
	echo "layers: the include graph crosses a layer the wrong way (see above)" >&2
	exit 1
fi
