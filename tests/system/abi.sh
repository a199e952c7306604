#!/usr/bin/env bash
# abi.sh — test_abi: make check-abi as a test.  build/libmgc-gc.so must
# define every function and variable libgc 8.2.2 exports (compat/abi.txt,
# variables with libgc's sizes) and every GC_ name the installed libgc
# clients import (compat/abi.sh check), so that nothing a preloaded program
# calls falls through to the real libgc.  Skips (exit 77) without nm and
# readelf.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
for tool in nm readelf; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "SKIP test_abi: needs $tool (apt-get install -y binutils)"; exit 77; }
done
exec bash compat/abi.sh check build/libmgc-gc.so compat/abi.txt
