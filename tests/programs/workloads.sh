# shellcheck shell=bash
# workloads.sh — the real-program workloads, shared by the tests
# (tests/programs/check.sh) and the timed runs (bench/programs.sh).
#
# Each program that links the Boehm collector gets:
#   wl_package PROG          the Debian package that provides it
#   wl_setup PROG DIR SIZE   writes its input into DIR (SIZE: test or bench)
#   wl_run PROG DIR RUNNER OUT
#                            runs the workload on DIR's input, with RUNNER
#                            (empty: the program as installed, on Boehm;
#                            build/mgc-run: on mgc) in front of each command,
#                            writing what it prints into the directory OUT
#                            (one .out and one .err per command).
# Outputs contain no addresses, times or paths that differ between runs, so
# two runs must produce identical OUT directories.  Sourced, or run as
#   bash workloads.sh wl_run PROG DIR RUNNER OUT   (for timing one whole run)

WL_PROGRAMS="w3m mmv chase neko nix-instantiate guile"
WL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

wl_package() {
	case $1 in
	nix-instantiate) echo nix-bin ;;
	guile) echo guile-3.0 ;;
	*) echo "$1" ;;
	esac
}

# The setting under which the tests run a program a third time, to make mgc
# collect often: a small heap (mmv's) stays below mgc's 4 MiB minimum
# whatever the percent, so it collects at every allocation instead.
# nix-instantiate expands the heap to 384 MiB at start (GC_expand_hp)
# unless GC_INITIAL_HEAP_SIZE is set, and the test size stays below that
# whatever the percent: set to 1 MiB, the heap starts small instead and
# grows with the evaluation.  Guile's heap holds its compiled modules
# (tens of MiB live before the program starts): 25% already collects every
# few MiB, and 10% made its run take several times Boehm's.
wl_often() {
	case $1 in
	mmv) echo MGC_COLLECT_EVERY=1 ;;
	nix-instantiate) echo GC_INITIAL_HEAP_SIZE=1M ;;
	guile) echo MGC_GCPERCENT=25 ;;
	*) echo MGC_GCPERCENT=10 ;;
	esac
}

wl_setup() {
	mkdir -p "$2"
	"wl_setup_$1" "$(cd "$2" && pwd)" "$3"
}

wl_run() {
	mkdir -p "$4"
	"wl_run_$1" "$(cd "$2" && pwd)" "$3" "$(cd "$4" && pwd)"
}

# wl_cmd OUT NAME RUNNER CMD...: runs CMD (behind RUNNER) into OUT/NAME.out
# and OUT/NAME.err, and records a non-zero exit status in OUT/NAME.status.
# With WL_TIMES set to a file, appends "SECONDS PEAK_RSS_KIB" of CMD alone
# to it, so that timing leaves out the setup around the programs (mmv's
# thousands of files are created and removed by the shell).
wl_cmd() {
	local out=$1 name=$2 runner=$3 timer=() t0 t1
	shift 3
	[[ -n ${WL_TIMES:-} ]] && timer=(/usr/bin/time -f '%M' -o "$out/$name.rss")
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086 # RUNNER is empty or one path
	"${timer[@]}" $runner "$@" >"$out/$name.out" 2>"$out/$name.err" ||
		echo "exit $?" >"$out/$name.status"
	t1=$EPOCHREALTIME
	[[ -n ${WL_TIMES:-} ]] || return 0
	echo "$t0 $t1 $(tail -n 1 "$out/$name.rss")" |
		awk '{ printf "%.4f %d\n", $2 - $1, $3 }' >>"$WL_TIMES"
	rm -f "$out/$name.rss"
}

# ---- w3m: large generated pages, dumped at the default width, at 80 and at 40.

wl_page_tables() { # nested tables, n outer rows
	local n=$1 i
	echo '<html><head><title>tables</title></head><body><h1>Nested tables</h1>'
	echo '<table border=1 cellpadding=2>'
	for ((i = 0; i < n; i++)); do
		echo "<tr><td>row $i</td><td><table border=1><tr><td>a$i</td><td>b $((i * 7 % 1000))</td></tr>"
		echo "<tr><td colspan=2><table><tr><td>&lt;inner&gt; $i &amp; more</td><td><b>$((i * i))</b></td></tr></table></td></tr></table></td>"
		echo "<td><a href=\"#r$i\">link $i</a> and <i>text</i> with several words to wrap around the cell</td></tr>"
	done
	echo '</table></body></html>'
}

wl_page_lists() { # long nested lists, n items
	local n=$1 i
	echo '<html><head><title>lists</title></head><body><h1>Lists</h1><ol>'
	for ((i = 0; i < n; i++)); do
		echo "<li>item $i: the quick brown fox jumps over the lazy dog &copy; $((i % 97))"
		if ((i % 10 == 0)); then
			echo "<ul><li>sub $i.1<li>sub $i.2 <code>code()</code><li>sub $i.3</ul>"
		fi
	done
	echo '</ol><dl><dt>term<dd>definition</dl></body></html>'
}

wl_page_links() { # n links in paragraphs, with pre blocks between
	local n=$1 i
	echo '<html><head><title>links</title></head><body><h1>Links</h1><p>'
	for ((i = 0; i < n; i++)); do
		echo "<a href=\"http://example.org/page/$i?q=$((i * 31))&amp;x=y\">page number $i</a>,"
		if ((i % 200 == 199)); then
			echo "</p><pre>"
			echo "  preformatted block $i"
			echo "    with   spacing	and a tab &lt;kept&gt;"
			echo "</pre><p>"
		fi
	done
	echo '</p><hr><address>end</address></body></html>'
}

wl_setup_w3m() {
	local dir=$1 k=1
	[[ $2 == bench ]] && k=3
	wl_page_tables $((4000 * k)) >"$dir/tables.html"
	wl_page_lists $((12000 * k)) >"$dir/lists.html"
	wl_page_links $((15000 * k)) >"$dir/links.html"
}

wl_run_w3m() {
	local dir=$1 runner=$2 out=$3 p
	for p in tables lists links; do
		wl_cmd "$out" "$p" "$runner" w3m -dump -T text/html "$dir/$p.html"
		wl_cmd "$out" "$p-80" "$runner" w3m -dump -cols 80 -T text/html "$dir/$p.html"
		# Without a terminal the default width is 80 as well: one narrow
		# layout, so that a second, different one is compared too.
		wl_cmd "$out" "$p-40" "$runner" w3m -dump -cols 40 -T text/html "$dir/$p.html"
	done
}

# ---- mmv: thousands of files renamed, dry run and real, and back.

wl_setup_mmv() {
	local n=2000
	[[ $2 == bench ]] && n=20000
	echo "$n" >"$1/count"
}

wl_run_mmv() {
	local dir=$1 runner=$2 out=$3 n work
	n=$(cat "$dir/count")
	work=$(mktemp -d "$dir/work.XXXXXX")
	(cd "$work" && seq -f 'f%g.txt' 1 "$n" | xargs touch &&
		seq -f 'g%g-x.dat' 1 $((n / 2)) | xargs touch)
	(cd "$work" && wl_cmd "$out" dry "$runner" mmv -n '*.txt' '#1.bak')
	(cd "$work" && wl_cmd "$out" rename "$runner" mmv '*.txt' '#1.bak')
	(cd "$work" && wl_cmd "$out" swap "$runner" mmv 'g*-*.dat' '#2-#1.dat')
	(cd "$work" && ls) >"$out/after.list"
	(cd "$work" && wl_cmd "$out" back "$runner" mmv '*.bak' '#1.txt')
	(cd "$work" && ls) >"$out/back.list"
	rm -rf "$work"
}

# ---- chase: long chains of symbolic links, relative and absolute, and a
# loop (which chase must detect and report).

wl_setup_chase() {
	local dir=$1 n=2000 step=20
	[[ $2 == bench ]] && n=4000 step=20
	mkdir -p "$dir/chain"
	: >"$dir/chain/target"
	# l1 -> target, li -> l(i-1), every third one absolute; loop1 -> ...
	# -> loop300 -> loop1.  (perl is in every Debian system; one ln per
	# link would take seconds.)
	perl -e 'my ($d, $n) = @ARGV; my $prev = "target";
		for my $i (1 .. $n) {
			symlink($i % 3 ? $prev : "$d/$prev", "$d/l$i") or die "symlink: $!";
			$prev = "l$i";
		}
		for my $i (1 .. 300) {
			symlink("loop" . ($i % 300 + 1), "$d/loop$i") or die "symlink: $!";
		}' "$dir/chain" "$n"
	seq -f 'l%g' "$step" "$step" "$n" >"$dir/names"
	echo "$n" >"$dir/count"
}

wl_run_chase() {
	local dir=$1 runner=$2 out=$3 n
	n=$(cat "$dir/count")
	# Relative paths, so the output is the same wherever the chain is.
	(cd "$dir/chain" &&
		wl_cmd "$out" last "$runner" chase -w 0 -l 0 "l$n" &&
		wl_cmd "$out" many "$runner" chase -w 0 -l 0 -f "$dir/names" &&
		wl_cmd "$out" verbose "$runner" chase --verbose -w 0 -l 0 "l$((n / 2))" &&
		wl_cmd "$out" loop "$runner" chase loop1)
	sed -i "s|$dir/||g" "$out"/*.out "$out"/*.err
}

# ---- neko: an allocation-heavy Neko program (neko/alloc.neko).

wl_setup_neko() {
	local n=15
	[[ $2 == bench ]] && n=18
	cp "$WL_HERE/neko/alloc.neko" "$1/alloc.neko"
	(cd "$1" && nekoc alloc.neko >/dev/null) || return 1
	echo "$n" >"$1/size"
}

wl_run_neko() {
	local dir=$1 runner=$2 out=$3
	(cd "$dir" && wl_cmd "$out" alloc "$runner" neko alloc "$(cat size)")
}

# ---- nix-instantiate: nix-instantiate --eval --strict on the expressions of
# tests/programs/nix/ (long lists, large attribute sets, string building,
# JSON round trips, recursion, and a literal list of records that setup
# writes as data.nix), each with its size as the argument n.  The store,
# state, log and configuration directories and HOME are in a scratch
# directory, and --readonly-mode keeps the evaluator from writing a store:
# nothing outside the input is read or written.

wl_setup_nix-instantiate() {
	local dir=$1 sizes
	# name n [options]: one command per line
	if [[ $2 == bench ]]; then
		sizes='lists 1000000
attrs 150000
strings 200000
json 50000
trees 16
literal 60000 --json'
	else
		sizes='lists 50000
attrs 20000
strings 20000
json 5000
trees 12
literal 10000 --json'
	fi
	echo "$sizes" >"$dir/sizes"
	cp "$WL_HERE"/nix/*.nix "$dir/" || return 1
	awk -v n="$(awk '$1 == "literal" { print $2 }' "$dir/sizes")" 'BEGIN {
		print "["
		for (i = 0; i < n; i++)
			printf "  { id = %d; name = \"item-%d\"; v = %d.%d; tags = [ \"a%d\" \"b%d\" ]; sub = { x = %d; y = \"y%d\"; }; }\n",
				i, i, i % 100, i % 4 * 25, i, i % 5, i % 7, i % 11
		print "]"
	}' >"$dir/data.nix"
}

wl_run_nix-instantiate() {
	local dir=$1 runner=$2 out=$3 scratch name n opts
	scratch=$(mktemp -d "$dir/scratch.XXXXXX")
	mkdir -p "$scratch/conf" "$scratch/home"
	(
		cd "$dir" || exit 1
		export NIX_STORE_DIR=$scratch/store NIX_STATE_DIR=$scratch/state \
			NIX_LOG_DIR=$scratch/log NIX_CONF_DIR=$scratch/conf HOME=$scratch/home
		unset NIX_PATH NIX_REMOTE NIX_CONFIG NIX_USER_CONF_FILES \
			XDG_CONFIG_HOME XDG_CONFIG_DIRS XDG_DATA_HOME XDG_CACHE_HOME XDG_STATE_HOME
		while read -r name n opts; do
			# shellcheck disable=SC2086 # opts: zero or more options
			wl_cmd "$out" "$name" "$runner" nix-instantiate --readonly-mode --eval --strict \
				$opts --arg n "$n" "$name.nix" </dev/null
		done <sizes
	)
	rm -rf "$scratch"
	# error messages name the files by their absolute paths
	sed -i "s|$dir/||g" "$out"/*.out "$out"/*.err
}

# ---- guile: GNU Guile 3.0 — its REPL reading tests/programs/guile/repl.in
# on standard input, `guild compile' of guile/ledger.scm (records,
# closures, macros) and a run of the compiled module, then the programs of
# tests/programs/guile/ (long lists and vectors, strings and ports, hash
# tables and bignums, a large live heap, guardians and weak tables,
# threads), each with its size as the argument.  Nothing is auto-compiled,
# and HOME and the XDG directories are in a scratch directory: nothing
# outside the input is read or written.

wl_setup_guile() {
	local dir=$1 sizes
	# name n: one command per line; ledger runs the compiled module
	if [[ $2 == bench ]]; then
		sizes='ledger 100000
lists 400000
strings 60000
tables 200000
big 200000
weak 20000
threads 40000'
	else
		sizes='ledger 25000
lists 100000
strings 15000
tables 50000
big 60000
weak 6000
threads 10000'
	fi
	echo "$sizes" >"$dir/sizes"
	cp "$WL_HERE"/guile/*.scm "$WL_HERE"/guile/repl.in "$dir/" || return 1
}

wl_run_guile() {
	local dir=$1 runner=$2 out=$3 scratch name n
	scratch=$(mktemp -d "$dir/scratch.XXXXXX")
	mkdir -p "$scratch/home" "$scratch/go"
	(
		cd "$dir" || exit 1
		export HOME=$scratch/home XDG_CACHE_HOME=$scratch/cache XDG_CONFIG_HOME=$scratch/config \
			XDG_DATA_HOME=$scratch/data XDG_STATE_HOME=$scratch/state GUILE_AUTO_COMPILE=0
		unset GUILE GUILE_FLAGS GUILE_LOAD_PATH GUILE_LOAD_COMPILED_PATH GUILE_EXTENSIONS_PATH \
			GUILE_SYSTEM_PATH GUILE_SYSTEM_COMPILED_PATH GUILE_JIT_THRESHOLD GUILE_STACK_SIZE \
			GUILE_WARN_DEPRECATED GUILE_HISTORY XDG_CONFIG_DIRS XDG_DATA_DIRS
		wl_cmd "$out" repl "$runner" guile --no-auto-compile -q <repl.in
		# from the scratch directory, so that guild names its output go/ledger.go
		(cd "$scratch" && wl_cmd "$out" compile "$runner" guild compile -o go/ledger.go "$dir/ledger.scm" </dev/null)
		while read -r name n; do
			if [[ $name == ledger ]]; then
				# the compiled file only: no source on the load path
				wl_cmd "$out" "$name" "$runner" guile --no-auto-compile -C "$scratch/go" \
					-c "((@ (ledger) main) $n)" </dev/null
			else
				wl_cmd "$out" "$name" "$runner" guile --no-auto-compile -s "$name.scm" "$n" </dev/null
			fi
		done <sizes
	)
	rm -rf "$scratch"
	# error messages name the files by their absolute paths
	sed -i "s|$dir/||g" "$out"/*.out "$out"/*.err
}

if [[ ${BASH_SOURCE[0]} == "$0" && $# -gt 0 ]]; then
	"$@"
fi
