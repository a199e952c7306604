#!/usr/bin/env bash
# comments.sh — test_comments: the comments of src/ name only what exists.
#
# Every comment of src/*.c and src/*.h is read for what looks like a
# reference to code or to a file:
#   - a word followed by "()": a function;
#   - a word with an underscore in it (heap_alloc_span, gc_lock,
#     MGC_ASSERT, MGC_MARKERS): a function, variable, type, constant or
#     environment variable;
#   - a file name ending in .c or .h, bare (a file of src/, or mgc.h) or
#     with a directory (from the top of the tree: compat/gc.c,
#     tests/check.h).
# A name must occur in the code of src/ or include/mgc.h (comments left
# out; string literals count, so that environment variables do), or, when
# the comment itself speaks of compat/ or tests/, of those directories;
# Boehm's GC_ names are looked up in compat/.  A few system calls the
# comments name are known below.  Each name found nowhere is reported with
# its file and line, and the test fails.  To show that it can fail, the
# checker first runs on a comment naming a function, a variable and a file
# that do not exist, and must report exactly those three.
# shellcheck source=tests/system/checker.sh
source "$(dirname "${BASH_SOURCE[0]}")/checker.sh"

# The checker: perl, which Debian always has (perl-base).
read -r -d '' checker <<'PERL'
use strict;
use warnings;

# System calls and C library functions the comments name while the code
# does not call them.
my %external = map { $_ => 1 } qw(fork read epoll_wait);

sub slurp {
	my ($f) = @_;
	open(my $h, "<", $f) or return "";
	local $/;
	my $s = <$h>;
	close $h;
	return $s;
}

# Splits C source into code (comments blanked) and comments with lines.
sub split_c {
	my ($src) = @_;
	my ($code, @comments) = ("");
	my $line = 1;
	while ($src =~ m{\G(/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|[^/"']+|.)}gsc) {
		my $t = $1;
		if ($t =~ m{^/[*/]}) {
			push @comments, [$line, $t];
			$code .= " ";
		} else {
			$code .= $t;
		}
		$line += ($t =~ tr/\n//);
	}
	return ($code, @comments);
}

sub idents {
	my %set;
	for my $f (@_) {
		my ($code) = split_c(slurp($f));
		$set{$1} = 1 while $code =~ /\b([A-Za-z_]\w*)\b/g;
	}
	return \%set;
}

my @files = @ARGV;
my $src = idents(glob("src/*.c src/*.h"), "include/mgc.h");
my %more = (
	"compat/" => idents(glob("compat/*.c compat/*.h compat/tests/*.c")),
	"tests/" => idents(glob("tests/*.c tests/*.h")),
);
my $bad = 0;
for my $f (@files) {
	my (undef, @comments) = split_c(slurp($f));
	for my $c (@comments) {
		my ($line, $text) = @$c;
		my @known = ($src);
		for my $d (sort keys %more) {
			push @known, $more{$d} if index($text, $d) >= 0;
		}
		my $exists = sub {
			my ($n) = @_;
			return 1 if $external{$n} || ($n =~ /^GC_/ && $more{"compat/"}{$n});
			return scalar grep { $_->{$n} } @known;
		};
		my @lines = split /\n/, $text, -1;
		for my $i (0 .. $#lines) {
			my $l = $lines[$i];
			my %seen;
			my $report = sub {
				my ($what) = @_;
				return if $seen{$what}++;
				print "$f:", $line + $i, ": $what\n";
				$bad++;
			};
			while ($l =~ /\b([A-Za-z_]\w*)\(\)/g) {
				my $n = $1;
				$report->("$n() is not in the code") unless $exists->($n);
			}
			while ($l =~ /(?<![\w.\/-])([A-Za-z_]\w*_\w*)(?![\w(]|\.[ch]\b)/g) {
				my $n = $1;
				$report->("$n is not in the code") unless $exists->($n);
			}
			while ($l =~ m{(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.[ch])\b(?![\w/-])}g) {
				my $n = $1;
				my $path = $n =~ m{/} ? $n : $n eq "mgc.h" ? "include/mgc.h" : "src/$n";
				$report->("$n does not exist") unless -e $path;
			}
		}
	}
}
exit($bad ? 1 : 0);
PERL

probe='/* Calls no_such_function(), reads heap_no_such_field, and lives in
 * no_such_file.c; mark_range(), gc_lock, include/mgc.h and heap.c exist. */
int mark_range;'
want="1: no_such_function() is not in the code
1: heap_no_such_field is not in the code
2: no_such_file.c does not exist"
run_checker "$checker" "$probe" "$want" "comments in src/ name what does not exist" \
	src/*.c src/*.h
echo "test_comments: the comments of src/ name only code and files that exist"
