#!/usr/bin/env bash
# The CMake cache option MTBERT_MARCH sets the Release build's -march
# (default native; x86-64-v3 and the like make one binary for every node of
# a cluster): configured (not built) twice in scratch build folders, the
# compile commands carry the chosen flag and no other -march. Skips (77)
# without cmake.
set -u
src=${MTBERT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v cmake >/dev/null || { echo "SKIP: no cmake"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for march in "" x86-64-v3; do
    b=$T/b${march:-default}
    cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=Release -DMTBERT_CUDA=OFF ${march:+-DMTBERT_MARCH=$march} \
        >"$T/log" 2>&1 || { tail -5 "$T/log"; fail "configure with MTBERT_MARCH=${march:-(default)}"; }
    want=${march:-native}
    [ -f "$b/compile_commands.json" ] || fail "no compile_commands.json"
    n=$(grep -c -- "-march=$want " "$b/compile_commands.json")
    other=$(grep -o -- "-march=[^ ]*" "$b/compile_commands.json" | sort -u | grep -vx -- "-march=$want")
    [ "$n" -gt 10 ] && [ -z "$other" ] ||
        fail "MTBERT_MARCH=${march:-(default)}: $n commands with -march=$want, others: ${other:-none}"
    echo "ok: MTBERT_MARCH=${march:-(default)} -> -march=$want in $n compile commands"
done
