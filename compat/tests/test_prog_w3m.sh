#!/usr/bin/env bash
# test_prog_w3m — smoke test of libmgc-gc.so on a real Boehm-GC program:
# `w3m -dump` of a generated HTML page must print the same text with and
# without build/mgc-run, and under mgc-run mgc must really collect (its
# MGC_TRACE lines appear).  Skipped (status 0) when w3m is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
run=$here/../../mgc-run
if ! command -v w3m >/dev/null 2>&1; then
	echo "test_prog_w3m: w3m not installed, skipped"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

page() {
	echo '<html><head><title>mgc</title></head><body><h1>Heading</h1>'
	echo '<p>Some <b>bold</b>, <i>italic</i>, &amp; entities &lt;ok&gt;.</p>'
	echo '<ul><li>one<li>two<li>three</ul><table border=1>'
	for ((i = 0; i < 3000; i++)); do
		echo "<tr><td>$i</td><td>item $((i * i))</td><td><a href=\"#x$i\">link $i</a></td></tr>"
	done
	echo '</table><pre>pre'
	echo '  formatted</pre></body></html>'
}
page >"$tmp/page.html"

w3m -dump "$tmp/page.html" >"$tmp/boehm.txt" || { echo "FAIL: w3m failed"; exit 1; }
MGC_TRACE=1 MGC_GCPERCENT=50 "$run" w3m -dump "$tmp/page.html" >"$tmp/mgc.txt" 2>"$tmp/trace.txt" ||
	{ echo "FAIL: w3m under mgc-run failed"; cat "$tmp/trace.txt"; exit 1; }
if ! cmp -s "$tmp/boehm.txt" "$tmp/mgc.txt"; then
	echo "FAIL: w3m output differs under mgc-run"
	diff "$tmp/boehm.txt" "$tmp/mgc.txt" | head -20
	exit 1
fi
if ! grep -q '^mgc: gc ' "$tmp/trace.txt"; then
	echo "FAIL: no mgc collection traced: libmgc-gc.so was not used"
	head -5 "$tmp/trace.txt"
	exit 1
fi
echo "test_prog_w3m: ok ($(grep -c '^mgc: gc ' "$tmp/trace.txt") collections)"
