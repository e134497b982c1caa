#!/usr/bin/env bash
# Builds the libFuzzer targets tests/fuzz/fuzz_*.c against the project's
# sources (clang, -fsanitize=fuzzer,address,undefined) into build-fuzz/ and
# runs each for N seconds, starting from its seed corpus
# tests/fuzz/corpus/NAME/. New corpus entries go to build-fuzz/corpus/NAME/
# (not the seeds); crashes, leaks and timeouts go to tests/fuzz/out/NAME/.
#
#   bash tests/fuzz/run_fuzz.sh [--seconds N] [--jobs J] [TARGET ...]
#
# Without TARGETs: every target but shard_raw (libhdf5 on arbitrary bytes,
# with libhdf5 1.10's own memory errors; run it by name). fuzz_shard fuzzes
# the loader's verified path (manifest checks before libhdf5).
#
# Prints per target: executions, coverage at start and end, findings.
# Exits 0 when nothing was found, 1 on findings, 0 with a SKIP line when
# clang or its libFuzzer runtime is missing.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER=60
JOBS=2
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done
CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
    for c in clang clang-14 clang-15 clang-16; do command -v $c >/dev/null && { CC=$c; break; }; done
fi
[ -n "$CC" ] || { echo "SKIP fuzz: clang not installed (apt-get install clang libclang-rt-dev)"; exit 0; }
B=${FUZZ_BUILD_DIR:-build-fuzz} # another folder for a second checkout or user
mkdir -p $B/obj $B/corpus tests/fuzz/out
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}\n' >$B/probe.c
if ! $CC -fsanitize=fuzzer,address,undefined $B/probe.c -o $B/probe 2>$B/probe.log; then
    echo "SKIP fuzz: $CC cannot link -fsanitize=fuzzer (libclang-rt missing?): $(head -n 1 $B/probe.log)"
    exit 0
fi
PKGS="yaml-0.1 jansson libutf8proc libpcre2-8 hdf5-serial openblas libxxhash libprotobuf-c"
# protobuf-c code generated as CMakeLists does (TensorBoard events), into $B/proto
mkdir -p $B/proto
for p in trainer/*/proto/*.proto; do
    [ -e "$p" ] || continue
    g=$B/proto/${p%.proto}.pb-c.c
    if [ ! -f "$g" ] || [ "$p" -nt "$g" ]; then
        protoc-c --proto_path=. --c_out=$B/proto "$p" || { echo "fuzz: protoc-c $p failed"; exit 1; }
    fi
done
CFLAGS="-O1 -g -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE -fopenmp -I. -Ikernels -I$B/proto $(pkg-config --cflags $PKGS)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="$(pkg-config --libs $PKGS) -lm"

# the project's sources (as CMakeLists' mtbert_core, CPU only, no MPI)
srcs=$(ls kernels/*.c kernels/cpu/*.c util/*.c trainer/*/*.c data/*.c comm/*.c | grep -v '^trainer/cli/main.c$')
srcs="$srcs $(find $B/proto -name '*.pb-c.c' | sort)"
newest_h=$(ls -t kernels/*.h kernels/cpu/*.h util/*.h trainer/*/*.h data/*.h comm/*.h 2>/dev/null | head -n 1)
todo=()
for s in $srcs; do
    o=$B/obj/$(echo "${s%.c}" | tr / _).o
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then todo+=("$s"); fi
done
if [ ${#todo[@]} -gt 0 ]; then
    echo "fuzz: compiling ${#todo[@]} sources with $CC"
    printf '%s\n' "${todo[@]}" | xargs -P "$JOBS" -I{} sh -c \
        'o='$B'/obj/$(echo "$(dirname {})/$(basename {} .c)" | tr / _).o; '"$CC $CFLAGS $SAN"' -fsanitize=fuzzer-no-link -w -c {} -o "$o"' \
        || { echo "fuzz: compilation failed"; exit 1; }
fi
# this tree's objects only (not those of sources since renamed or removed)
objs=$(for s in $srcs; do echo $B/obj/$(echo "${s%.c}" | tr / _).o; done)

[ ${#targets[@]} -gt 0 ] || targets=($(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||' | grep -vx shard_raw))
status=0
SUMMARY=$B/summary-$$.txt
printf '%-12s %10s %8s %8s %6s %s\n' target execs cov0 cov corpus findings >$SUMMARY
for t in "${targets[@]}"; do
    exe=$B/fuzz_$t
    if [ ! -x "$exe" ] || [ tests/fuzz/fuzz_$t.c -nt "$exe" ] || [ tests/fuzz/fuzz_common.h -nt "$exe" ] \
       || [ -n "$(find $B/obj -newer "$exe" -name '*.o' | head -n 1)" ]; then
        $CC $CFLAGS $SAN -fsanitize=fuzzer -Itests/fuzz tests/fuzz/fuzz_$t.c $objs $LIBS -o "$exe" \
            || { echo "fuzz: linking $t failed"; status=1; continue; }
    fi
    mkdir -p "$B/corpus/$t" "tests/fuzz/out/$t" "tests/fuzz/corpus/$t"
    maxlen=65536
    log=$B/fuzz_$t.log
    # LSan on: leaks count as findings (fuzz_shard_raw: libhdf5's own leaks on
    # corrupt files suppressed; fuzz_shard has none to suppress: libhdf5 only
    # sees intact files); OpenMP/OpenBLAS threads are not started here
    supp=""
    [ "$t" = shard_raw ] && supp="suppressions=$PWD/tests/fuzz/lsan-hdf5.supp"
    LSAN_OPTIONS=$supp ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        "$exe" "$B/corpus/$t" "tests/fuzz/corpus/$t" -max_total_time="$SECONDS_PER" -max_len=$maxlen \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="tests/fuzz/out/$t/" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov0=$(grep -m1 -E '#[0-9]+[[:space:]]+INITED' "$log" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    cov=$(grep -E '#[0-9]+' "$log" | grep ' cov: ' | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    corp=$(ls "$B/corpus/$t" | wc -l)
    finds=$(ls "tests/fuzz/out/$t" | wc -l)
    what="none"
    if [ $rc -ne 0 ]; then
        status=1
        what="rc=$rc: $(grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | cut -c1-160) (log $log)"
    fi
    printf '%-12s %10s %8s %8s %6s %s\n' "$t" "${execs:-?}" "${cov0:-?}" "${cov:-?}" "$corp" "$what" | tee -a $SUMMARY
    [ "$finds" -gt 0 ] && echo "  $finds file(s) in tests/fuzz/out/$t/"
done
echo "--- fuzz summary (${SECONDS_PER}s per target; cov0/cov: coverage at start/end)"
cat $SUMMARY; rm -f $SUMMARY
exit $status
