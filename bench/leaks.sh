#!/usr/bin/env bash
# leaks.sh — how much faster mgc finds a C program's leaks than Valgrind
# does.  Builds bench/leaks.c, a malloc/free program with known leaks, on
# glibc, mgc and the Boehm collector, runs each build as it is and under
# the leak finder that goes with it (valgrind --leak-check=full; mgc's
# MGC_FIND_LEAKS=1 with -DMGC_DEBUG_ALLOC; Boehm's find-leak mode with
# GC_DEBUG), and prints markdown tables: the median wall time and peak RSS
# of each, and the leaks each finder reported, site by site, against the
# leaks the program counts itself.  See bench/README.md.
#
#   bash bench/leaks.sh            build, run, print the tables
#   bash bench/leaks.sh --write    also update the leaks section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS        runs of each configuration (default 5), alternating
#   BENCH_LEAKS_DOCS  documents the program indexes (default 6000)
#   CC                compiler (default cc)
#   MGC_LIB           libmgc.a to link (default build/libmgc.a, built with make)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SETTINGS="BENCH_RUNS BENCH_LEAKS_DOCS"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
die() { say "leaks.sh: $*"; exit 1; }

RUNS=${BENCH_RUNS:-5}
DOCS=${BENCH_LEAKS_DOCS:-6000}
WRITE=0
for a in "$@"; do
	case $a in
	--write) WRITE=1 ;;
	*) die "usage: bash bench/leaks.sh [--write]" ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $DOCS =~ ^[1-9][0-9]*$ ]] || die "BENCH_LEAKS_DOCS must be a positive integer"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install -y time)"

# -g for every build: valgrind finds a block's file and line in the debug
# information; the collectors take theirs from __FILE__ and __LINE__.
CFLAGS+=" -g"
# The configurations in table order: each allocator as it is, then under
# its leak finder.
CONFIGS="glibc valgrind mgc mgcleak boehm boehmleak"
FINDERS="valgrind mgcleak boehmleak"
VALGRIND=(valgrind --leak-check=full "--show-leak-kinds=definite,indirect,possible")
RESULTS=$OUT/leaks-results.txt # leaks config seconds peak_rss_kib run
CHECKS=$OUT/leaks-checks.txt   # config run sites_found blocks_found missed wrong reported
EXPECTED=$OUT/leaks-expected.txt
declare -A ACTIVE=()
SKIPPED=()
FAILED=()

# The build a configuration runs.
build_of() {
	case $1 in
	glibc | valgrind) echo glibc ;;
	mgcleak) echo mgcdebug ;;
	boehmleak) echo boehmdebug ;;
	*) echo "$1" ;;
	esac
}

# What a configuration's row says it is.
describe() {
	case $1 in
	glibc) echo "glibc | none" ;;
	valgrind) echo "glibc | \`${VALGRIND[*]}\`" ;;
	mgc) echo "mgc | none" ;;
	mgcleak) echo "mgc | \`MGC_FIND_LEAKS=1\`, built with \`-DMGC_DEBUG_ALLOC\`" ;;
	boehm) echo "boehm | none" ;;
	boehmleak) echo "boehm | \`GC_set_find_leak(1)\`, built with \`<gc/leak_detector.h>\` (\`GC_DEBUG\`)" ;;
	esac
}

# Compiles build B of bench/leaks.c into build/bench/leaks-B.
build() {
	local b=$1 flags=() libs=()
	case $b in
	mgc) flags=(-DLEAKS_MGC) ;;
	mgcdebug) flags=(-DLEAKS_MGC -DLEAKS_DEBUG) ;;
	boehm) flags=(-DLEAKS_BOEHM) ;;
	boehmdebug) flags=(-DLEAKS_BOEHM -DLEAKS_DEBUG) ;;
	esac
	case $b in
	mgc*) libs=("$MGC_LIB" -lpthread -ldl) ;;
	boehm*) libs=(-lgc) ;;
	esac
	say "== build leaks-$b: $CC $CFLAGS ${flags[*]}${flags[*]:+ }bench/leaks.c ${libs[*]}"
	# shellcheck disable=SC2086 # $CFLAGS is a list of flags
	"$CC" $CFLAGS "${flags[@]}" -I"$ROOT/include" "$ROOT/bench/leaks.c" \
		-o "$OUT/leaks-$b" "${libs[@]}"
}

skip() {
	SKIPPED+=("$1")
	say "SKIP $1"
}

# Builds what can be built; a configuration whose build or tool is
# missing is skipped with the reason.
build_all() {
	local c b
	declare -A built=()
	mkdir -p "$OUT"
	find_mgc
	for c in $CONFIGS; do
		b=$(build_of "$c")
		if [[ $c == valgrind ]] && ! command -v valgrind >/dev/null; then
			skip "valgrind: not installed (apt-get install -y valgrind)"
			continue
		fi
		if [[ $b == mgc* && ! -f $MGC_LIB ]]; then
			skip "$c: $MGC_LIB does not exist (run make)"
			continue
		fi
		if [[ $b == boehm* && ! -f /usr/include/gc/leak_detector.h ]]; then
			skip "$c: the Boehm collector is not installed (apt-get install -y libgc-dev)"
			continue
		fi
		if [[ -z ${built[$b]+set} ]]; then
			build "$b" || die "compiling bench/leaks.c for $b failed"
			built[$b]=1
		fi
		ACTIVE[$c]=1
	done
}

# The command of configuration C, into CMD; LOG is where its finder writes.
set_command() {
	local c=$1 prog
	prog=$OUT/leaks-$(build_of "$c")
	case $c in
	valgrind) CMD=("${VALGRIND[@]}" --log-file="$LOG" "$prog" "$DOCS") ;;
	mgcleak) CMD=(env MGC_FIND_LEAKS=1 "$prog" "$DOCS") ;;
	*) CMD=("$prog" "$DOCS") ;;
	esac
}

# The leaks a finder reported, from its log: "site blocks" per allocation
# site, the site being leaks.c:LINE, or ? for a report without one.
# valgrind: a loss record's blocks go to the first frame of its stack in
# leaks.c; mgc: one line per block; Boehm: one line per block.
reported() {
	case $1 in
	valgrind)
		awk '/ are (definitely|indirectly|possibly) lost in loss record / {
			if (open) n["?"] += blocks
			match($0, /in [0-9,]+ blocks? are/)
			blocks = substr($0, RSTART + 3, RLENGTH - 3)
			gsub(/[^0-9]/, "", blocks)
			open = 1
			next
		}
		open && match($0, /\(leaks\.c:[0-9]+\)$/) {
			n[substr($0, RSTART + 1, RLENGTH - 2)] += blocks
			open = 0
		}
		open && /^==[0-9]+== *$/ { n["?"] += blocks; open = 0 }
		END { for (s in n) print s, n[s] }' "$2"
		;;
	mgcleak)
		awk '/^mgc: leak: / {
			s = "?"
			if (match($0, /allocated at [^ ]+:[0-9]+$/)) {
				s = substr($0, RSTART + 13)
				sub(/.*\//, "", s)
			}
			n[s]++
		}
		END { for (s in n) print s, n[s] }' "$2"
		;;
	boehmleak)
		awk '/^0x[0-9a-f]+ \(/ {
			s = "?"
			if (match($0, /^0x[0-9a-f]+ \([^,()]+:[0-9]+,/)) {
				s = substr($0, RSTART, RLENGTH - 1)
				sub(/^[^(]*\(/, "", s)
				sub(/.*\//, "", s)
			}
			n[s]++
		}
		END { for (s in n) print s, n[s] }' "$2"
		;;
	esac | sort
}

# Checks a finder's report FOUND against the expected leaks: prints
# "sites_found blocks_found missed wrong reported".
check() {
	awk 'FNR == NR { if ($1 == "expect") want[$2] = $3; next }
	{
		rep += $2
		if ($1 in want) {
			sites++
			found += $2 < want[$1] ? $2 : want[$1]
			if ($2 > want[$1]) wrong += $2 - want[$1]
		} else {
			wrong += $2
		}
	}
	END {
		for (s in want) total += want[s]
		printf "%d %d %d %d %d\n", sites, found, total - found, wrong, rep
	}' "$EXPECTED" "$1"
}

# One run of configuration C.  The program must print the leaks and the
# checksum of the first run; a finder's reports are kept for the tables.
one() {
	local c=$1 r=$2 out=$OUT/leaks-$1.out err=$OUT/leaks-$1.err tm=$OUT/leaks-$1.time
	local rc=0 why="" t found
	LOG=$OUT/leaks-$c.log
	set_command "$c"
	rm -f "$LOG"
	/usr/bin/time -f '%e %M' -o "$tm" timeout "$RUN_TIMEOUT" "${CMD[@]}" >"$out" 2>"$err" || rc=$?
	if ((rc != 0)); then
		why="$(exit_reason "$rc")$(tail -n 1 "$err" | sed 's/^./: &/')"
	elif [[ ! $(tail -n 1 "$out") =~ ^leaks\ $(build_of "$c")\ $DOCS\ checksum\ [0-9a-f]{16}$ ]]; then
		why="no result line"
	elif [[ ! -f $EXPECTED ]]; then
		grep '^expect ' "$out" >"$EXPECTED" || true
		tail -n 1 "$out" | cut -d' ' -f5 >"$OUT/leaks-checksum.txt"
	elif ! diff -q "$EXPECTED" <(grep '^expect ' "$out") >/dev/null ||
		[[ $(tail -n 1 "$out" | cut -d' ' -f5) != "$(cat "$OUT/leaks-checksum.txt")" ]]; then
		why="its leaks or checksum differ from the first run's"
	fi
	if [[ -n $why ]]; then
		say "FAIL $c (run $r): $why"
		say "     repeat with: ${CMD[*]}"
		FAILED+=("$c (run $r): $why; repeat with: ${CMD[*]}")
		unset "ACTIVE[$c]"
		return
	fi
	t=$(tail -n 1 "$tm")
	echo "leaks $c $t $r" >>"$RESULTS"
	if [[ " $FINDERS " == *" $c "* ]]; then
		[[ $c == valgrind ]] || LOG=$err
		found=$OUT/leaks-found-$c-$r.txt
		reported "$c" "$LOG" >"$found"
		echo "$c $r $(check "$found")" >>"$CHECKS"
		finder_notes "$c" "$LOG"
	fi
	say "   [$r/$RUNS] $c: ${t% *} s, ${t#* } KiB${found:+, $(awk '{ n += $2 } END { print n + 0 }' "$found") leaked blocks reported}"
}

# What the last run of a finder said beyond its leaks, for the notes.
finder_notes() {
	case $1 in
	valgrind)
		VG_KINDS=$(awk '/ (definitely|indirectly|possibly) lost: | still reachable: / {
			sub(/^==[0-9]+== +/, ""); sub(/:.* in /, ": "); printf "%s%s", sep, $0; sep = "; " }' "$2")
		;;
	boehmleak)
		BOEHM_GCS=$(awk '/^Found [0-9]+ leaked objects:/ { n++; if ($2 >= 40) full++ }
			END { printf "%d %d", n, full }' "$2")
		;;
	esac
}

run_all() {
	local r c
	: >"$RESULTS"
	: >"$CHECKS"
	rm -f "$EXPECTED" "$OUT"/leaks-found-*.txt
	for ((r = 1; r <= RUNS; r++)); do
		for c in $CONFIGS; do
			if [[ -n ${ACTIVE[$c]+set} ]]; then
				one "$c" "$r"
			fi
		done
	done
}

# "min" or "min–max" of column $2 of the checks of finder $1.
spread() {
	awk -v c="$1" -v k="$2" '$1 == c {
		if (n++ == 0 || $k < lo) lo = $k
		if ($k > hi) hi = $k
	}
	END { if (n) print (lo == hi ? lo : lo "–" hi) }' "$CHECKS"
}

# The same for the blocks finder $1 reported at site $2, over its runs.
site_spread() {
	local f
	for f in "$OUT"/leaks-found-"$1"-*.txt; do
		[[ -f $f ]] || continue
		awk -v s="$2" '$1 == s { n = $2 } END { print n + 0 }' "$f"
	done | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print (lo == hi ? lo : lo "–" hi) }'
}

# The median over the rounds of (time of $1) / (time of $2), both run in
# the same round.
round_ratio() {
	awk -v a="$1" -v b="$2" '$2 == a { ta[$5] = $3 } $2 == b { tb[$5] = $3 }
		END { for (r in ta) if ((r in tb) && tb[r] > 0) print ta[r] / tb[r] }' "$RESULTS" |
		sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "n/a"; exit }
			printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

leaked_total() { awk '{ n += $3 } END { print n + 0 }' "$EXPECTED"; }

tables() {
	local c base s bs kib nsites total
	nsites=$(wc -l <"$EXPECTED")
	total=$(leaked_total)
	echo "| allocator | leak finder | median s | ÷ as is | median peak RSS (MiB) | leak sites reported (of $nsites) | leaked blocks reported (of $total) | missed | reported wrongly |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for c in $CONFIGS; do
		s=$(median leaks "$c" 3)
		[[ -n $s ]] || continue
		kib=$(median leaks "$c" 4)
		printf '| %s | %.2f |' "$(describe "$c")" "$s"
		if [[ " $FINDERS " == *" $c "* ]]; then
			base=$(build_of "$c")
			[[ $base == glibc ]] || base=${c%leak}
			bs=$(median leaks "$base" 3)
			printf ' %s | %.1f | %s | %s | %s | %s |\n' "$(ratio "$s" "$bs")" \
				"$(awk -v k="$kib" 'BEGIN { print k / 1024 }')" "$(spread "$c" 3)" \
				"$(spread "$c" 4)" "$(spread "$c" 5)" "$(spread "$c" 6)"
		else
			printf ' | %.1f | | | | |\n' "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
		fi
	done
	echo
	echo "Leak finding, valgrind's time ÷ mgc's: **$(round_ratio valgrind mgcleak)**;" \
		"valgrind's ÷ Boehm's: $(round_ratio valgrind boehmleak)" \
		"(medians of the ratios within a round)."
	echo
	site_table
}

# Site by site: what the program leaked and what each finder reported.
site_table() {
	local s n leak what c row sites
	printf '| allocation site | allocates | leak | blocks leaked |'
	for c in $FINDERS; do printf ' %s |' "${c%leak}"; done
	printf '\n|---|---|---:|---:|'
	for c in $FINDERS; do printf -- '---:|'; done
	echo
	# the expected sites in source order, then any other site reported
	sites=$( {
		awk '{ print $2 }' "$EXPECTED"
		cat "$OUT"/leaks-found-*.txt 2>/dev/null | awk '{ print $1 }'
	} | sort -u -t: -k2,2n)
	for s in $sites; do
		if read -r _ _ n leak what < <(grep "^expect $s " "$EXPECTED"); then
			row="| $s | $what | $leak | $n |"
		else
			row="| $s | not a leak | | 0 |"
		fi
		for c in $FINDERS; do
			if [[ -n $(median leaks "$c" 3) ]]; then
				row+=" $(site_spread "$c" "$s") |"
			else
				row+=" |"
			fi
		done
		echo "$row"
	done
}

# The commit libmgc.a was built from, if it is this tree's.
mgc_commit() {
	local c
	[[ $MGC_LIB == "$ROOT/build/libmgc.a" ]] || return 0
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || return 0
	if [[ -n $(git -C "$ROOT" status --porcelain -- src include 2>/dev/null) ]]; then
		c+=", src or include modified"
	fi
	echo " (commit $c)"
}

versions() {
	printf '%s, glibc %s, bdwgc %s, mgc %s%s' \
		"$(valgrind --version 2>/dev/null || echo 'valgrind ?')" \
		"$(ldd --version 2>/dev/null | awk 'NR == 1 { print $NF }')" \
		"$(dpkg-query -W -f '${Version}' libgc1 2>/dev/null || echo '?')" \
		"${MGC_LIB#"$ROOT/"}" "$(mgc_commit)"
}

notes() {
	local n full
	if [[ -n ${VG_KINDS:-} ]]; then
		echo "valgrind's leak summary (last run): $VG_KINDS."
	fi
	if [[ -n ${BOEHM_GCS:-} ]]; then
		read -r n full <<<"$BOEHM_GCS"
		echo "Boehm reported leaks at $n collections (last run), $full of them at its" \
			"limit of 40 per collection (MAX_LEAKED in bdwgc's reclaim.c): it reclaims" \
			"the leaks past the 40th without reporting them."
	fi
}

section() {
	local s cmd="${GIVEN_ENV}bash bench/leaks.sh --write"
	echo "<!-- leaks:begin -->"
	echo "## Finding leaks: Valgrind, mgc and the Boehm collector (\`bench/leaks.c\`)"
	echo
	if [[ -n ${MAKELEVEL:-} ]]; then
		echo "- Command: \`$cmd\` (from make)"
	else
		echo "- Command: \`$cmd\`"
	fi
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: nproc $(nproc), CPU $(cpu_model)"
	echo "- Compiler: \`$CC $CFLAGS\` ($("$CC" --version | head -n 1))"
	echo "- Versions: $(versions)"
	echo "- Size: $DOCS documents; $RUNS runs of each configuration, alternating;" \
		"wall time and peak RSS of the whole process (GNU time), medians"
	for s in "${SKIPPED[@]}"; do
		echo "- Not measured: $s"
	done
	echo
	echo "One C program that allocates with calloc, realloc and free, built on"
	echo "glibc, on mgc (mgc_alloc, mgc_realloc, mgc_free) and on the Boehm collector,"
	echo "and run as it is and under the leak finder of each.  It has five"
	echo "deliberate leaks (some every Nth time, a whole table with its entries,"
	echo "a parse tree in an error path) and counts the blocks it loses at each"
	echo "allocation site; a finder's reports are checked against those counts,"
	echo "site by site.  \"÷ as is\" divides a finder's time by that of the same"
	echo "allocator without it.  Where runs differ, a range is shown.  See"
	echo "\`bench/README.md\` for the program and how to read the tables."
	echo
	echo "$1"
	while read -r s; do
		printf '\n%s\n' "$s"
	done < <(notes)
	echo "<!-- leaks:end -->"
}

build_all
((${#ACTIVE[@]} > 0)) || die "nothing could be built"
say "== $RUNS runs of: $(for c in $CONFIGS; do [[ -n ${ACTIVE[$c]+set} ]] && printf '%s ' "$c"; done)($DOCS documents)"
run_all
[[ -s $EXPECTED ]] || die "no run succeeded"
T=$(tables)
echo
echo "$T"
echo
notes
for f in "${SKIPPED[@]}"; do echo "Not measured: $f"; done
for f in "${FAILED[@]}"; do echo "FAILED: $f"; done
if ((${#FAILED[@]} > 0)); then
	((WRITE)) && say "leaks.sh: a run failed; $DOC not updated"
	exit 1
fi
if ((WRITE)); then
	for c in mgcleak valgrind; do
		grep -q "^leaks $c " "$RESULTS" || die "$c was not measured; $DOC not updated"
	done
	section "$T" >"$OUT/leaks-section.md"
	replace_doc_section leaks "$OUT/leaks-section.md"
fi
