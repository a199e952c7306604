#!/usr/bin/env bash
# preconditions.sh — test_preconditions: every function named for a
# precondition checks it.
#
# A function of src/ or compat/ whose name ends in _locked needs a lock
# held, one whose name ends in _stopped needs the world stopped by the
# calling thread (src/internal.h, "Names").  Each definition of one must
# assert it in its body: MGC_ASSERT of lock_held, central_lock_held or
# world_stopped_here in src/, assert(compat_lock_held()) in compat/.  Each
# that does not is reported, and the test fails.  To show that it can
# fail, the checker first runs on a definition without the assertion.
# shellcheck source=tests/system/checker.sh
source "$(dirname "${BASH_SOURCE[0]}")/checker.sh"

read -r -d '' checker <<'PERL'
use strict;
use warnings;

my $bad = 0;
my $n = 0;
for my $f (@ARGV) {
	open(my $h, "<", $f) or die "$f: $!";
	local $/;
	my $src = <$h>;
	close $h;
	# A definition: the name at the start of a line (the return type is on
	# the line before), its parameters, and a body that ends with a
	# closing brace at the start of a line.
	while ($src =~ /^(\w+_(?:locked|stopped))\([^;{]*?\)\s*\n\{\n(.*?)^\}/msg) {
		my ($name, $body) = ($1, $2);
		$n++;
		next if $body =~ /\bMGC_ASSERT\([^;]*\b(?:lock_held|central_lock_held|world_stopped_here)\(/;
		next if $body =~ /\bassert\(compat_lock_held\(\)\)/;
		my $line = 1 + (substr($src, 0, $-[0]) =~ tr/\n//);
		print "$f:$line: $name does not assert its precondition\n";
		$bad++;
	}
}
print "checked $n\n";
exit($bad ? 1 : 0);
PERL

probe='static void
good_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
}

void
bad_stopped(int x)
{
	(void)x;
}'
want="8: bad_stopped does not assert its precondition
checked 2"
run_checker "$checker" "$probe" "$want" \
	"functions named for a precondition that do not assert it" src/*.c compat/*.c
echo "test_preconditions: the $(sed -n 's/^checked //p' <<<"$REPORT") _locked and _stopped" \
	"functions assert their precondition"
