#!/usr/bin/env bash
# manpages.sh — test_manpages: the manual pages keep up with the code.
# man/mgc.3 must name every function that include/mgc.h declares, in its
# NAME line and its SYNOPSIS, and every MGC_ environment variable that
# mgc.h's notes document, in its ENVIRONMENT; man/mgc-run.1 and man/mgc-plot.1 must exist.
# (test_install renders the installed pages with man.)
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
status=0

funcs=$(grep -v '^typedef' include/mgc.h | sed -n 's/^[a-z].*[ *]\(mgc_[a-z_]*\)(.*/\1/p')
[[ -n $funcs ]] || { echo "FAIL: no function declarations found in include/mgc.h"; exit 1; }
name=$(sed -n '/^\.SH NAME/,/^\.SH SYNOPSIS/p' man/mgc.3)
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' man/mgc.3)
for f in $funcs; do
	grep -qw -- "$f" <<<"$name" || { echo "FAIL: man/mgc.3's NAME does not list $f"; status=1; }
	grep -q -- "$f(" <<<"$synopsis" || { echo "FAIL: man/mgc.3's SYNOPSIS does not declare $f"; status=1; }
done
vars=$(grep -o '^ \*   MGC_[A-Z_]*' include/mgc.h | sed 's/^ \*   //')
environment=$(sed -n '/^\.SH ENVIRONMENT/,/^\.SH EXAMPLES/p' man/mgc.3)
for v in $vars; do
	grep -Eq -- "^\.B[IR]? (.* )?\"?${v}\b" <<<"$environment" ||
		{ echo "FAIL: man/mgc.3's ENVIRONMENT does not describe $v"; status=1; }
done
for page in man/mgc-run.1 man/mgc-plot.1; do
	[[ -s $page ]] || { echo "FAIL: $page is missing"; status=1; }
done
((status == 0)) && echo "test_manpages: mgc(3) covers the $(wc -w <<<"$funcs") functions of mgc.h"
exit $status
