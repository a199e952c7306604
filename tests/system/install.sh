#!/usr/bin/env bash
# install.sh — test_install: mgc installed as a system library.
#
# `make install PREFIX=<temporary directory>` (with what `make` built taken
# as up to date) must put every file in place: the header, libmgc.a,
# libmgc.so.VERSION with the soname libmgc.so.0 and the libmgc.so link,
# libmgc-gc.so, mgc-run and mgc-plot, mgc.pc and the man pages.  Then,
# against that prefix only:
#   - the README's example, built as the README says with pkg-config,
#     runs (and its static build from the source tree too);
#   - the installed mgc-run runs a program linked with Boehm's -lgc on the
#     installed libmgc-gc.so (mgc's trace shows it collected);
#   - `man -l` shows both pages, with no warnings, and `man mgc_alloc`
#     finds mgc(3);
# a staged install (DESTDIR) refers to the final prefix, not the staging
# directory; `make uninstall` leaves no file behind.
# Skips (exit 77) when pkg-config or man is not installed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

fail() {
	echo "FAIL: $*"
	exit 1
}
need() {
	command -v "$1" >/dev/null 2>&1 ||
		{ echo "SKIP test_install: needs $1 (apt-get install -y $2)"; exit 77; }
}
need pkg-config pkg-config
need man man-db
need readelf binutils

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# make TARGET ARGS...: the top-level make, run on its own (not as part of
# the make running this test), with everything `make` builds taken as done.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$root" -o all "$@" >"$tmp/make.out" 2>&1 ||
		{ cat "$tmp/make.out"; fail "make $*"; }
}

# ---- install into a prefix: every file in place

run_make install PREFIX="$prefix"
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
[[ -n $version ]] || fail "no VERSION in the Makefile"
funcs=$(grep -v '^typedef' include/mgc.h | sed -n 's/^[a-z].*[ *]\(mgc_[a-z_]*\)(.*/\1/p')
expect=(include/mgc.h lib/libmgc.a "lib/libmgc.so.$version" lib/libmgc.so.0 lib/libmgc.so
	lib/libmgc-gc.so lib/pkgconfig/mgc.pc bin/mgc-run bin/mgc-plot
	share/man/man1/mgc-run.1 share/man/man1/mgc-plot.1 share/man/man3/mgc.3)
for f in $funcs; do
	expect+=("share/man/man3/$f.3")
done
(cd "$prefix" && find . -type f -o -type l | sed 's|^\./||' | sort) >"$tmp/installed"
printf '%s\n' "${expect[@]}" | sort >"$tmp/expected"
diff "$tmp/expected" "$tmp/installed" >"$tmp/diff" ||
	{ cat "$tmp/diff"; fail "make install: not the expected files (< missing, > unexpected)"; }
[[ $(readlink "$prefix/lib/libmgc.so") == libmgc.so.0 ]] || fail "lib/libmgc.so does not link to libmgc.so.0"
[[ $(readlink "$prefix/lib/libmgc.so.0") == "libmgc.so.$version" ]] ||
	fail "lib/libmgc.so.0 does not link to libmgc.so.$version"
readelf -d "$prefix/lib/libmgc.so.$version" | grep -q 'SONAME.*\[libmgc\.so\.0\]' ||
	fail "libmgc.so.$version has no soname libmgc.so.0"
echo "make install: ${#expect[@]} files, soname libmgc.so.0"

# ---- the README's example, built with pkg-config against the prefix

awk '/^## Example/ { in_ex = 1 } in_ex && /^```c$/ { code = 1; next }
	code && /^```$/ { exit } code { print }' README.md >"$tmp/example.c"
grep -q 'mgc_alloc' "$tmp/example.c" || fail "no C example under README.md's \"## Example\""
# The README's two commands that build it: from the source tree, and with
# pkg-config once installed.
# shellcheck disable=SC2016 # the backquotes are Markdown's
mapfile -t cmds < <(grep -o '`cc example\.c [^`]*`' README.md | tr -d '`')
build=("" "")
for c in "${cmds[@]}"; do
	[[ -z ${build[0]} && $c == *build/libmgc.a* ]] && build[0]=$c
	[[ -z ${build[1]} && $c == *pkg-config* ]] && build[1]=$c
done
[[ -n ${build[0]} && -n ${build[1]} ]] ||
	fail "README.md does not give the commands \"cc example.c ...\" with build/libmgc.a and with pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion mgc) == "$version" ]] || fail "pkg-config --modversion mgc is not $version"
(cd "$tmp" && eval "${build[1]} -Wall -Wextra -Werror -o example") 2>&1 ||
	fail "the README example does not build with: ${build[1]}"
readelf -d "$tmp/example" | grep -q 'NEEDED.*\[libmgc\.so\.0\]' ||
	fail "the README example does not need libmgc.so.0"
LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/example" | grep -q "libmgc.so.0 => $prefix/lib/libmgc.so.0" ||
	fail "the README example does not load the installed libmgc.so.0"
out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/example") || fail "the README example (pkg-config build) exits $?"
echo "README example, ${build[1]}: $out"
[[ $out =~ ^[0-9]+\ collections,\ [0-9]+\ bytes\ live$ ]] || fail "the README example printed: $out"
# The README's first command runs at the top of the tree: $tmp stands in.
ln -s "$root/include" "$tmp/include" || fail "ln -s"
ln -s "$root/build" "$tmp/build" || fail "ln -s"
(cd "$tmp" && eval "${build[0]} -Wall -Wextra -Werror -o example-static") 2>&1 ||
	fail "the README example does not build with: ${build[0]}"
"$tmp/example-static" >/dev/null || fail "the README example (${build[0]}) exits $?"
unset PKG_CONFIG_PATH

# ---- the installed mgc-run, on a program linked with Boehm's collector

grep -q "$prefix/lib/libmgc-gc.so" "$prefix/bin/mgc-run" || fail "mgc-run does not preload $prefix/lib/libmgc-gc.so"
grep -q "$root/build" "$prefix/bin/mgc-run" && fail "the installed mgc-run refers to the build directory"
cat >"$tmp/boehm.c" <<'EOF'
#include <gc.h>
#include <stdio.h>

int
main(void)
{
	GC_INIT();
	void **keep = GC_MALLOC(sizeof *keep);
	for (int i = 0; i < 200000; i++)
		*keep = GC_MALLOC(100);
	GC_gcollect();
	printf("collections: %lu\n", (unsigned long)GC_get_gc_no());
	return 0;
}
EOF
cc -std=c11 -I/usr/include/gc "$tmp/boehm.c" -o "$tmp/boehm" -lgc 2>&1 ||
	fail "a program linked with -lgc does not build"
MGC_TRACE=1 "$prefix/bin/mgc-run" "$tmp/boehm" >"$tmp/boehm.out" 2>"$tmp/boehm.err" ||
	{ cat "$tmp/boehm.out" "$tmp/boehm.err"; fail "the installed mgc-run: exit status $?"; }
grep -q '^mgc: gc ' "$tmp/boehm.err" ||
	{ cat "$tmp/boehm.out" "$tmp/boehm.err"; fail "under the installed mgc-run, mgc did not collect"; }
echo "installed mgc-run: a -lgc program ran on mgc ($(grep -c '^mgc: gc ' "$tmp/boehm.err") collections traced)"

# ---- the man pages

for page in man3/mgc.3:mgc_alloc man1/mgc-run.1:LD_PRELOAD man1/mgc-plot.1:gnuplot; do
	file=$prefix/share/man/${page%%:*}
	MANWIDTH=80 man --warnings -l -P cat "$file" >"$tmp/page" 2>"$tmp/page.err" ||
		fail "man -l $file: exit status $?"
	[[ -s $tmp/page.err ]] && { cat "$tmp/page.err"; fail "man -l $file warns"; }
	grep -q "${page##*:}" "$tmp/page" || fail "man -l $file does not show ${page##*:}"
done
MANWIDTH=80 man -M "$prefix/share/man" -P cat 3 mgc_alloc 2>&1 | grep -q '^NAME' ||
	fail "man mgc_alloc does not find mgc(3) in $prefix/share/man"
echo "man -l: mgc(3), mgc-run(1), mgc-plot(1); man mgc_alloc finds mgc(3)"

# ---- a staged install refers to its final prefix; uninstall

run_make install PREFIX=/opt/mgc DESTDIR="$tmp/stage"
grep -q '"/opt/mgc/lib/libmgc-gc.so' "$tmp/stage/opt/mgc/bin/mgc-run" ||
	fail "mgc-run staged with DESTDIR does not preload /opt/mgc/lib/libmgc-gc.so"
grep -q '^prefix=/opt/mgc$' "$tmp/stage/opt/mgc/lib/pkgconfig/mgc.pc" ||
	fail "mgc.pc staged with DESTDIR does not say prefix=/opt/mgc"
grep -rq "$tmp/stage" "$tmp/stage" && fail "a file staged with DESTDIR names the staging directory"
run_make uninstall PREFIX=/opt/mgc DESTDIR="$tmp/stage"
run_make uninstall PREFIX="$prefix"
left=$(find "$prefix" "$tmp/stage" -type f -o -type l)
[[ -z $left ]] || fail "make uninstall left: $left"
echo "make uninstall: no file left"
echo "test_install: ok"
