#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# md2man.sh: docs/ferry.md (the reference, in the small Markdown subset it
# uses) to a man page on stdout, for `make install`.
#
#   md2man.sh docs/ferry.md > build/ferry.8
#
# Understood: "# name(section)" (the title), "## SECTION", paragraphs,
# ``` blocks, definition lists ("`term`" then ":   text", continued by
# indented lines), "- " items, **bold** and `code` (both bold).
set -euo pipefail
src=${1:?usage: md2man.sh FILE.md}
date=$(date -u -r "$src" +%Y-%m-%d 2>/dev/null || date -u +%Y-%m-%d)

awk -v date="$date" '
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	return s
}
function inline(s,   out, m) {
	s = esc(s)
	while (match(s, /\*\*[^*]+\*\*/)) {
		m = substr(s, RSTART + 2, RLENGTH - 4)
		s = substr(s, 1, RSTART - 1) "\\fB" m "\\fR" substr(s, RSTART + RLENGTH)
	}
	while (match(s, /`[^`]+`/)) {
		m = substr(s, RSTART + 1, RLENGTH - 2)
		s = substr(s, 1, RSTART - 1) "\\fB" m "\\fR" substr(s, RSTART + RLENGTH)
	}
	if (s ~ /^[.\x27]/)
		s = "\\&" s
	return s
}
BEGIN { code = 0; para = 0 }
/^```/ {
	if (code) { print ".fi"; print ".RE"; code = 0 }
	else { print ".PP"; print ".RS 4"; print ".nf"; code = 1 }
	next
}
code { line = esc($0); if (line ~ /^[.\x27]/) line = "\\&" line; print line; next }
/^# / {
	t = substr($0, 3)
	name = t; sub(/\(.*/, "", name)
	sec = t; sub(/.*\(/, "", sec); sub(/\).*/, "", sec)
	printf ".TH %s %s \"%s\" \"ferry\" \"System Administration\"\n", toupper(name), sec, date
	next
}
/^## / { print ".SH " toupper(substr($0, 4)); para = 0; next }
/^### / { print ".SS " substr($0, 5); para = 0; next }
/^$/ { para = 1; next }
/^:   / { print inline(substr($0, 5)); para = 0; next }
/^- / { print ".IP \\(bu 2"; print inline(substr($0, 3)); para = 0; next }
{
	# A term line: starts with a backtick and the next line is ":   ".
	if ($0 ~ /^`/ && (getline nxt) > 0) {
		if (nxt ~ /^:   /) {
			print ".TP"; print inline($0); print inline(substr(nxt, 5)); para = 0; next
		}
		if (para) print ".PP"
		para = 0
		print inline($0)
		if (nxt == "") { para = 1; next }
		$0 = nxt
	}
	if (para) { print ".PP"; para = 0 }
	sub(/^    /, "")
	print inline($0)
}
' "$src"
