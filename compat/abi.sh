#!/usr/bin/env bash
# abi.sh — the names the Boehm collector's libgc exports, and the check that
# libmgc-gc.so defines each of them and everything the installed libgc
# clients import.
#
# usage:
#   compat/abi.sh generate [LIBGC] > compat/abi.txt
#       Lists the functions and variables LIBGC exports (default
#       /usr/lib/x86_64-linux-gnu/libgc.so.1, from the package libgc1),
#       one a line: "NAME function", or "NAME data SIZE" with the
#       variable's size in bytes (a program linked against libgc may hold
#       a copy of it of that size).  Only GC_ names are kept: the others
#       are the linker's own symbols, not part of the collector's
#       interface (libgc 8.2.2 exports _end, the end of its bss, which
#       every shared object has and no program binds to in libgc).
#   compat/abi.sh check LIB [ABI]
#       Fails, naming them, on every name of ABI (default compat/abi.txt
#       beside this script) that LIB (e.g. build/libmgc-gc.so) does not
#       define, on every variable LIB defines with another size or as a
#       function, and on every GC_ name that an installed libgc client
#       imports and LIB does not define.  Clients are the ELF files under
#       $ABI_CLIENT_DIRS (default /usr/bin /usr/sbin /usr/lib /usr/libexec
#       /usr/local/bin /usr/local/lib) whose NEEDED entries include
#       libgc.so.1.  Needs nm and readelf (binutils).
#   make check-abi runs the check on build/libmgc-gc.so.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# defined LIB: "NAME TYPE [SIZE]" for every dynamic symbol LIB defines.
defined() {
	nm -D -S -t d --defined-only "$1" | awk 'NF == 4 { print $4, $3, $2 + 0; next }
		NF == 3 { print $3, $2 }'
}

generate() {
	local lib=${1:-/usr/lib/x86_64-linux-gnu/libgc.so.1}
	[[ -r $lib ]] || { echo "abi.sh: cannot read $lib (apt-get install -y libgc1)" >&2; exit 2; }
	echo "# The functions and variables $(basename "$lib") exports (libgc $(libgc_version)),"
	echo "# made by compat/abi.sh generate; a variable's line gives its size in bytes."
	echo "# Left out: the linker's own symbols ($(defined "$lib" | awk '$1 !~ /^GC_/ { print $1 }' |
		sort -u | paste -sd ' ' -)), not part of the collector's interface."
	defined "$lib" | awk '$1 ~ /^GC_/ {
		if ($2 ~ /^[TtWi]$/) print $1, "function"; else print $1, "data", $3 }' | sort -u
}

libgc_version() {
	dpkg-query -W -f '${Version}' libgc1 2>/dev/null || echo unknown
}

# clients: the ELF files under the client directories that need libgc.so.1.
# readelf is given /dev/null first so that it always prints "File:" lines.
clients() {
	local dirs=${ABI_CLIENT_DIRS:-/usr/bin /usr/sbin /usr/lib /usr/libexec /usr/local/bin /usr/local/lib}
	local existing=()
	for d in $dirs; do
		[[ -d $d ]] && existing+=("$d")
	done
	((${#existing[@]})) || return 0
	find "${existing[@]}" -type f -size +1k -print0 2>/dev/null |
		xargs -0 readelf -d /dev/null 2>/dev/null |
		awk '/^File: / { f = $2 } /\(NEEDED\).*\[libgc\.so\.1\]/ { print f }' | sort -u
}

check() {
	local lib=$1 abi=${2:-$here/abi.txt} status=0
	[[ -r $lib ]] || { echo "check-abi: $lib is missing (make compat)"; exit 1; }
	local have missing sizes
	have=$(defined "$lib")
	missing=$(grep -v '^#' "$abi" | awk '{ print $1 }' | sort -u |
		comm -23 - <(awk '{ print $1 }' <<<"$have" | sort -u))
	if [[ -n $missing ]]; then
		echo "check-abi: $lib does not define $(wc -l <<<"$missing") names libgc exports ($abi):"
		sed 's/^/  /' <<<"$missing"
		status=1
	fi
	# Variables: defined as data, with libgc's size.
	sizes=$(awk 'NR == FNR { if ($1 !~ /^#/ && $2 == "data") want[$1] = $3; next }
		($1 in want) && ($2 ~ /^[TtWi]$/ || $3 != want[$1]) {
			printf "  %s: %s in libgc, %s here\n", $1, want[$1] " bytes of data",
				($2 ~ /^[TtWi]$/ ? "a function" : $3 " bytes") }' "$abi" - <<<"$have")
	if [[ -n $sizes ]]; then
		echo "check-abi: $lib defines variables unlike libgc's:"
		echo "$sizes"
		status=1
	fi
	local n=0 c imports
	while read -r c; do
		[[ -n $c ]] || continue
		n=$((n + 1))
		imports=$(nm -D --undefined-only "$c" 2>/dev/null | awk '{ sub(/@.*/, "", $2) }
			$2 ~ /^GC_/ { print $2 }' | sort -u |
			comm -23 - <(awk '{ print $1 }' <<<"$have" | sort -u))
		if [[ -n $imports ]]; then
			echo "check-abi: $c imports names $lib does not define:"
			sed 's/^/  /' <<<"$imports"
			status=1
		fi
	done < <(clients)
	((status == 0)) &&
		echo "check-abi: $lib defines the $(grep -vc '^#' "$abi") names of $abi and the imports of $n libgc clients"
	return $status
}

case ${1:-} in
generate)
	shift
	generate "$@"
	;;
check)
	shift
	(($# >= 1)) || { echo "usage: $0 check LIB [ABI]" >&2; exit 2; }
	check "$@"
	;;
*)
	echo "usage: $0 generate [LIBGC] | check LIB [ABI]" >&2
	exit 2
	;;
esac
