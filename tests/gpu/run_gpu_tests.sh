#!/usr/bin/env bash
# run_gpu_tests.sh — the whole GPU check in one command, on a bare GPU host.
#
#   tests/gpu/run_gpu_tests.sh              # on the GPU host (the device tool:
#                                           # carry [".devcarry"], timeout_s 600)
#   tests/gpu/run_gpu_tests.sh --dry-run    # here / in CI: everything but the GPU
#
# The GPU host has the CUDA toolkit, cmake, ninja, compute-sanitizer, gcc and
# python3 with torch and the pip packages nvidia-nccl-cu13 / nvidia-cudnn-cu13,
# but no apt packages of ours (no OpenBLAS, libyaml, utf8proc, jansson, HDF5,
# Open MPI, no .pc files) and no network. So:
#  1. unpack    the carried .debs (.devcarry/debs, made by
#               tests/gpu/tools/fetch_carry.sh) with dpkg -x (or a python
#               ar+tar reader where dpkg is missing) into a prefix under /tmp,
#               never /; rewrite the .pc files to that prefix into one folder;
#               PKG_CONFIG_LIBDIR = that folder only (no system .pc visible),
#               the carried pkgconf behind a pkg-config wrapper;
#  2. nccl      NCCL from python3 -c 'import nvidia.nccl' (libnccl.so.2; the
#               wheel has no libnccl.so) -> -DNCCL_ROOT;
#  3. configure a FRESH build dir (/tmp/mtbert-gpu-build; never a carried
#               CMakeCache), without MPI (one GPU: one rank);
#  4. check-paths  every pkg-config library CMake found lies in the prefix;
#  5. build     only what ctest -L gpu needs (+ two CPU unit tests), all cores
#               (a test's program is read from CTestTestfile.cmake:
#               test_ops_cuda runs test_ops);
#  6. check-deps   every header of ours came from the prefix (ninja's deps),
#               and every shared library the binaries need resolves: from the
#               prefix, or (on the GPU host) from the host; a folder of links,
#               the run-lib, holds the carried libraries the host lacks and is
#               LD_LIBRARY_PATH for the test steps only;
#  7. unit      test_plan_cache, test_comm_wait (CPU);
#  8. ctest-gpu ctest -L gpu: test_ops_cuda (test_ops --backend cuda,cuda-bf16:
#               the op cases on both CUDA tables against the CPU's),
#               test_parity_gpu (PyTorch fixtures,
#               fp32), test_nccl (one rank), gpu_demo_curve_bf16 (200 steps
#               bf16 GPU vs CPU), gpu_nccl_timeout;
#  9. memcheck  compute-sanitizer memcheck on test_ops --backend cuda,cuda-bf16;
# 10. racecheck compute-sanitizer racecheck on test_ops --backend cuda attention.
# Every step runs under `timeout` within one budget (MTBERT_GPU_BUDGET_S,
# default 450 s from the start; 1800 s for the dry run), so the whole run
# ends within 8 minutes even when a step hangs; a step with no time left is
# recorded as skipped.
#
# --dry-run does 1-7 on this machine against the carried prefix only: no
# system -dev package is visible to pkg-config, a header or library of ours
# taken from /usr fails check-deps, and the run-lib holds every carried
# library (as on a host that has none of them); then ctest -L gpu, which must
# skip (no GPU) without a failure: that starts every test binary and mtbert
# with the carried libraries. Steps 9-10 are skipped.
#
# Output: ${OUT:-/tmp/mtbert-gpu-out}/gpu-summary.txt (host, GPU, driver, each
# step's result and seconds, ctest's per-test lines, sanitizer totals, the
# end of each failed step's output) and gpu-tests.log (everything). Exit
# status 0 when every step passed. The dry run's default paths end in
# -dry-<checksum of the checkout's path> (/tmp/mtbert-carry-dry-N, ...), so
# that checkouts sharing a machine do not meet.
#
# Overrides: MTBERT_CARRY (.devcarry), MTBERT_CARRY_PREFIX (/tmp/mtbert-carry),
# BUILD_DIR (/tmp/mtbert-gpu-build), MTBERT_PYTHON (python3 then
# /work/venv/bin/python3), MTBERT_GPU_BUDGET_S (450), JOBS (nproc).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODE=gpu
for a in "$@"; do
    case $a in
        --dry-run) MODE=dry ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 0 ;;
        *) echo "run_gpu_tests.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
T_START=$(date +%s)
# 450 s on the GPU host (8 minutes with the machine's start); the dry run
# shares a small CI machine, where the build alone can take minutes
BUDGET_DEFAULT=450
[ "$MODE" = dry ] && BUDGET_DEFAULT=1800
BUDGET=${MTBERT_GPU_BUDGET_S:-$BUDGET_DEFAULT}
BUILD_CAP=330
[ "$MODE" = dry ] && BUILD_CAP=1500
DEADLINE=$((T_START + BUDGET))
CARRY="${MTBERT_CARRY:-$ROOT/.devcarry}"
# the dry run shares its machine: paths of its own per checkout
SFX=""
[ "$MODE" = dry ] && SFX="-dry-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
PFX="${MTBERT_CARRY_PREFIX:-/tmp/mtbert-carry$SFX}"
BUILD="${BUILD_DIR:-/tmp/mtbert-gpu-build$SFX}"
OUTDIR="${OUT:-/tmp/mtbert-gpu-out$SFX}"
JOBS="${JOBS:-$(nproc)}"
RUNLIB="$PFX/run-lib"
PCDIR="$PFX/pkgconfig"
ARCHLIB="$PFX/usr/lib/x86_64-linux-gnu"
# Debian 12 packages put some libraries in /lib, not /usr/lib
LIBPATH="$ARCHLIB:$PFX/lib/x86_64-linux-gnu"
case "$PFX" in /tmp/?*) ;; *) echo "run_gpu_tests.sh: the prefix must be under /tmp (got $PFX)" >&2; exit 2 ;; esac
case "$BUILD" in /|"$ROOT"|"$HOME") echo "run_gpu_tests.sh: refusing BUILD_DIR=$BUILD" >&2; exit 2 ;; esac
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-tests.log"
SUM="$OUTDIR/gpu-summary.txt"
: >"$LOG"
RESULTS=()  # "name|result|seconds"
FAIL=0
FAILTAIL=""
NCCL_NOTE="not looked for"

say() { echo "$*" | tee -a "$LOG"; }

# step NAME CAP_SECONDS cmd...: runs cmd under timeout min(CAP, time left)
step() {
    local name=$1 cap=$2; shift 2
    local now left lim t0 rc res
    now=$(date +%s)
    left=$((DEADLINE - now - 10))
    lim=$cap
    [ "$left" -lt "$lim" ] && lim=$left
    if [ "$lim" -lt 5 ]; then
        say "=== $name: SKIPPED (no time left in the ${BUDGET} s budget)"
        RESULTS+=("$name|skipped: no time left|0")
        FAIL=1
        return 1
    fi
    say "=== $name (limit ${lim} s): $*"
    t0=$(date +%s)
    local l0; l0=$(wc -l <"$LOG")
    # a child bash runs the step (the functions below are exported), so that
    # timeout can stop it and everything it started (timeout signals its
    # whole process group)
    timeout -k 10 "$lim" bash -c '"$@"' "$name" "$@" >>"$LOG" 2>&1
    rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then res=ok
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then res="TIMEOUT after ${lim} s"
    else res="FAILED (exit $rc)"
    fi
    say "=== $name: $res (${dt} s)"
    RESULTS+=("$name|$res|$dt")
    if [ $rc -ne 0 ]; then
        FAIL=1
        FAILTAIL+="--- $name: the end of its output"$'\n'"$(tail -n +$((l0 + 1)) "$LOG" | grep -v '^=== ' | tail -n 15)"$'\n'
    fi
    return $rc
}

skip_step() { say "=== $1: skipped ($2)"; RESULTS+=("$1|skipped: $2|0"); }

write_summary() {
    {
        echo "mtbert GPU check ($MODE) $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - T_START )) s of a ${BUDGET} s budget"
        echo "repo:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
        echo "host:   $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname) $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}'), $(nproc) cores"
        if command -v nvidia-smi >/dev/null 2>&1; then
            echo "gpu:    $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -2 | tr '\n' ';')"
        else
            echo "gpu:    no nvidia-smi"
        fi
        echo "nvcc:   $("$NVCC" --version 2>/dev/null | tail -1)"
        echo "gcc:    $(gcc -dumpfullversion 2>/dev/null), cmake $(cmake --version 2>/dev/null | head -1 | awk '{print $3}')"
        echo "nccl:   $NCCL_NOTE"
        echo "carry:  $(ls "$CARRY"/debs/*.deb 2>/dev/null | wc -l) debs, $(du -sh "$CARRY/debs" 2>/dev/null | cut -f1)"
        echo
        printf '%-14s %-34s %s\n' step result seconds
        for r in "${RESULTS[@]}"; do
            IFS='|' read -r n res s <<<"$r"
            printf '%-14s %-34s %s\n' "$n" "$res" "$s"
        done
        echo
        echo "ctest (per test):"
        grep -E '^ *[0-9]+/[0-9]+ Test +#' "$LOG" | sed 's/^/  /' || true
        echo "sanitizers:"
        grep -E '^========= (ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY)' "$LOG" | sed 's/^/  /' || echo "  (none ran)"
        echo "first failure lines in the log:"
        grep -E 'CHECK failed|FAIL:|Error|error:|not found|BAD |MISSING|TIMEOUT|FAILED' "$LOG" | grep -v '^=== ' | head -n 25 | sed 's/^/  /' || true
        [ -n "$FAILTAIL" ] && printf '%s' "$FAILTAIL" | sed 's/^/  /'
        [ "$MODE" = gpu ] && echo "(full log: gpu-tests.log beside this file)"
        echo
        echo "overall: $([ $FAIL -eq 0 ] && echo PASSED || echo FAILED)"
    } >"$SUM"
}
trap 'write_summary; cat "$SUM"; echo "log: $LOG"' EXIT

[ -x /usr/local/nvidia/bin/nvidia-smi ] && PATH="$PATH:/usr/local/nvidia/bin"
NVCC=/usr/local/cuda/bin/nvcc
[ -x "$NVCC" ] || NVCC="$(command -v nvcc || echo nvcc)"
SAN=/usr/local/cuda/bin/compute-sanitizer
[ -x "$SAN" ] || SAN="$(command -v compute-sanitizer || true)"
{ echo "mode $MODE, root $ROOT, prefix $PFX, build $BUILD, jobs $JOBS"; date -u; uname -a
  command -v nvidia-smi >/dev/null && nvidia-smi 2>&1 | head -15; } >>"$LOG" 2>&1

# ---------------------------------------------------------------- 1. unpack
# a .deb is an ar archive holding data.tar.{xz,zst,gz}: the python reader is
# for hosts without dpkg
deb_extract_py() { # deb dest
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
with open(deb, 'rb') as f:
    data = f.read()
assert data[:8] == b'!<arch>\n', deb + ': not an ar archive'
pos = 8
while pos + 60 <= len(data):
    name = data[pos:pos + 16].decode().strip().rstrip('/')
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    pos += 60 + size + (size & 1)
    if name.startswith('data.tar'):
        if name.endswith('.zst'):
            import zstandard  # only where dpkg is missing and the deb is zstd
            body = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
            name = 'data.tar'
        with tarfile.open(fileobj=io.BytesIO(body), mode='r:*') as t:
            t.extractall(dest)
        sys.exit(0)
sys.exit(deb + ': no data.tar member')
PY
}

do_unpack() {
    local debs=("$CARRY"/debs/*.deb)
    [ -e "${debs[0]}" ] || { echo "no .deb files in $CARRY/debs: run tests/gpu/tools/fetch_carry.sh (here, with a network) and carry .devcarry"; return 1; }
    rm -rf "$PFX" && mkdir -p "$PFX" || return 1
    local f
    for f in "${debs[@]}"; do
        if command -v dpkg >/dev/null 2>&1; then
            dpkg -x "$f" "$PFX" || { echo "dpkg -x $f failed"; return 1; }
        else
            deb_extract_py "$f" "$PFX" || { echo "extracting $f failed"; return 1; }
        fi
    done
    echo "unpacked ${#debs[@]} packages into $PFX ($(du -sh "$PFX" | cut -f1))"
    # every .pc in one folder, /usr rewritten to the prefix
    mkdir -p "$PCDIR"
    local pc n=0
    while IFS= read -r pc; do
        sed -e "s#=/usr\$#=$PFX/usr#" -e "s#/usr/#$PFX/usr/#g" "$pc" >"$PCDIR/$(basename "$pc")"
        n=$((n + 1))
    done < <(find "$PFX/usr" -name '*.pc' \( -type f -o -type l \) | grep -v "^$PCDIR")
    echo "$n .pc files rewritten into $PCDIR: $(cd "$PCDIR" && ls | tr '\n' ' ')"
    # the carried programs behind wrappers in $PFX/bin that find their
    # libraries in the prefix (the host may have neither); pkg-config = pkgconf
    [ -x "$PFX/usr/bin/pkgconf" ] || { echo "pkgconf-bin missing from the carry"; return 1; }
    mkdir -p "$PFX/bin"
    local exe name
    for exe in "$PFX"/usr/bin/*; do
        name=$(basename "$exe")
        [ "$name" = pkgconf ] && name=pkg-config
        # pkg-config sees the carried .pc files and nothing else
        local pcenv=""
        [ "$name" = pkg-config ] && pcenv="PKG_CONFIG_LIBDIR=\"$PCDIR\" PKG_CONFIG_PATH= "
        cat >"$PFX/bin/$name" <<SH
#!/bin/sh
${pcenv}LD_LIBRARY_PATH="$LIBPATH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$exe" "\$@"
SH
        chmod +x "$PFX/bin/$name"
    done
    echo "wrapped programs: $(cd "$PFX/bin" && ls | tr '\n' ' ')"
    local m
    for m in $(modules); do
        "$PFX/bin/pkg-config" --exists "$m" || { echo "pkg-config cannot see $m in $PCDIR: fetch the carry again (tests/gpu/tools/fetch_carry.sh)"; return 1; }
        echo "  $m $("$PFX/bin/pkg-config" --modversion "$m"): $("$PFX/bin/pkg-config" --cflags --libs "$m")"
    done
    for m in $(programs); do
        [ -x "$PFX/bin/$m" ] || { echo "program $m is not in the carry"; return 1; }
        "$PFX/bin/$m" --version 2>&1 | head -1 | sed "s/^/  $m: /"
    done
}

# what CMakeLists.txt asks pkg-config and find_program for
modules() { sed -n 's/^[^#]*pkg_check_modules([A-Za-z0-9_]* *REQUIRED *IMPORTED_TARGET *\([^ )]*\).*/\1/p' "$ROOT/CMakeLists.txt"; }
programs() { sed -n 's/^[^#]*find_program([A-Za-z0-9_]* *\([^ )]*\) *REQUIRED.*/\1/p' "$ROOT/CMakeLists.txt"; }
program_vars() { sed -n 's/^[^#]*find_program(\([A-Za-z0-9_]*\) *[^ )]* *REQUIRED.*/\1/p' "$ROOT/CMakeLists.txt"; }

# ---------------------------------------------------------------- 2. nccl
NCCL_ROOT_FOUND=""
find_nccl() {
    local py d cand=()
    for py in "${MTBERT_PYTHON:-}" python3 /work/venv/bin/python3; do
        [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
        d=$(timeout 60 "$py" -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null) || continue
        [ -n "$d" ] && cand+=("$d")
        break
    done
    [ -n "${NCCL_ROOT:-}" ] && cand=("$NCCL_ROOT" "${cand[@]}")
    for d in "${cand[@]}"; do
        if [ -f "$d/include/nccl.h" ] && { [ -e "$d/lib/libnccl.so.2" ] || [ -e "$d/lib/libnccl.so" ]; }; then
            NCCL_ROOT_FOUND=$d
            NCCL_NOTE="$d ($(ls "$d"/lib/libnccl.so* | xargs -n1 basename | tr '\n' ' '))"
            echo "NCCL: $NCCL_NOTE"
            return 0
        fi
        echo "NCCL candidate $d lacks include/nccl.h or lib/libnccl.so.2"
    done
    NCCL_NOTE="no pip NCCL (python3 -c 'import nvidia.nccl' failed)"
    echo "NCCL: $NCCL_NOTE"
    return 1
}

# ---------------------------------------------------------------- 3. configure
do_configure() {
    rm -rf "$BUILD" || return 1 # fresh: never a CMakeCache from another machine
    local rpl="$LIBPATH:$ARCHLIB/openblas-pthread:$ARCHLIB/hdf5/serial"
    local args=(-S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
        -DPKG_CONFIG_EXECUTABLE="$PFX/bin/pkg-config"
        -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
        "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$rpl")
    [ -x "$NVCC" ] && args+=(-DCMAKE_CUDA_COMPILER="$NVCC")
    [ -n "$NCCL_ROOT_FOUND" ] && args+=(-DNCCL_ROOT="$NCCL_ROOT_FOUND")
    env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$PCDIR" PATH="$PFX/bin:$PATH" cmake "${args[@]}"
}

# ---------------------------------------------------------------- 4. check-paths
check_paths() {
    local cache="$BUILD/CMakeCache.txt" bad=0 n=0 line v var
    while IFS= read -r line; do
        v=${line#*=}
        n=$((n + 1))
        case "$v" in "$PFX"/*) echo "  ok   $line" ;; *) echo "  BAD  $line (not in $PFX)"; bad=1 ;; esac
    done < <(grep -E '^pkgcfg_lib_[^:]*:FILEPATH=' "$cache")
    local nm; nm=$(modules | wc -l)
    [ $n -ge "$nm" ] || { echo "  BAD  only $n pkg-config libraries in the cache for $nm modules"; bad=1; }
    for var in $(program_vars); do
        line=$(grep -E "^$var:" "$cache")
        case "${line#*=}" in "$PFX"/*) echo "  ok   $line" ;; *) echo "  BAD  $line (not in $PFX)"; bad=1 ;; esac
    done
    grep -E '^(NCCL_|CMAKE_CUDA_COMPILER:|CMAKE_C_COMPILER:)' "$cache" | sed 's/^/  /'
    grep -E 'mtbert: (CUDA|NCCL)' "$LOG" | sed 's/^/  /'
    if ! grep -q "mtbert: CUDA backend ON" "$LOG"; then
        if [ "$MODE" = gpu ] || [ -x "$NVCC" ]; then echo "  BAD  the CUDA backend is not configured"; bad=1
        else echo "  note: no CUDA toolkit here: a CPU-only dry run"; fi
    fi
    if [ "$MODE" = gpu ]; then
        grep -q "mtbert: NCCL ON" "$LOG" || { echo "  BAD  NCCL was not found (test_nccl would skip)"; bad=1; }
    fi
    return $bad
}

# ---------------------------------------------------------------- 5. build
TARGETS=()
# the program test NAME runs, when it is one of ours in $BUILD (empty for a
# script): one program may back several tests under other names
test_program() { # name
    sed -n "s#^add_test(\(\[=\[\)\{0,1\}$1\(\]=\]\)\{0,1\} \"$BUILD/\([^\"/]*\)\".*#\3#p" \
        "$BUILD/CTestTestfile.cmake" | head -1
}
list_targets() {
    local names
    names=$(timeout 30 ctest --test-dir "$BUILD" -L gpu -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p')
    [ -n "$names" ] || { echo "ctest -L gpu -N lists no tests"; return 1; }
    TARGETS=(mtbert test_plan_cache test_comm_wait)
    local t p
    for t in $names; do
        case $t in gpu_*) continue ;; esac
        p=$(test_program "$t")
        [ -n "$p" ] || { echo "test $t: no program of ours found in $BUILD/CTestTestfile.cmake"; return 1; }
        case " ${TARGETS[*]} " in *" $p "*) ;; *) TARGETS+=("$p") ;; esac
    done
    echo "gpu tests: $(echo $names); targets: ${TARGETS[*]}"
}

# ---------------------------------------------------------------- 6. check-deps
# assumed on every host: C library, compiler runtime, zlib/zstd, CUDA, NCCL
BASE_RE='^(linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libstdc\+\+\.so|libgcc_s\.so|libgomp\.so|libz\.so|libzstd\.so|liblzma\.so|libbz2\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libnccl\.so|libnvidia-)'
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# The run-lib: links to the carried libraries the binaries need and would
# not find otherwise. Dry run: as on a host that has none of them, every
# library outside the base set, followed through DT_NEEDED (readelf). GPU
# host: what the loader itself reports missing (ldd), added until nothing is
# missing; the host's own copies win for everything else.
make_runlib() { # binaries...
    rm -rf "$RUNLIB" && mkdir -p "$RUNLIB" || return 1
    declare -A carried=()
    local f so bin missing=0
    while IFS= read -r f; do carried[$(basename "$f")]=$f; done < <(find "$PFX/usr/lib" "$PFX/lib" -name 'lib*.so.*' 2>/dev/null)
    if [ "$MODE" = dry ]; then
        command -v readelf >/dev/null || { echo "readelf missing (binutils)"; return 1; }
        local queue=()
        declare -A seen=()
        for bin in "$@"; do queue+=($(needed "$bin")); done
        while [ ${#queue[@]} -gt 0 ]; do
            so=${queue[0]}; queue=("${queue[@]:1}")
            [ -n "${seen[$so]:-}" ] && continue
            seen[$so]=1
            [[ $so =~ $BASE_RE ]] && continue
            if [ -n "${carried[$so]:-}" ]; then
                ln -sf "${carried[$so]}" "$RUNLIB/$so"
                echo "  carried  $so"
                queue+=($(needed "${carried[$so]}"))
            else
                echo "  MISSING  $so (not carried)"
                missing=1
            fi
        done
        return $missing
    fi
    local round nf progress
    for round in 1 2 3 4 5 6 7 8 9 10; do
        nf=$(for bin in "$@"; do LD_LIBRARY_PATH="$RUNLIB" ldd "$bin" 2>/dev/null; done | awk '/not found/ {print $1}' | sort -u)
        [ -z "$nf" ] && break
        progress=0
        for so in $nf; do
            if [ -n "${carried[$so]:-}" ]; then
                ln -sf "${carried[$so]}" "$RUNLIB/$so"
                echo "  carried  $so (the host has none)"
                progress=1
            else
                echo "  MISSING  $so (neither carried nor on this host)"
                missing=1
            fi
        done
        [ $progress -eq 1 ] || break
    done
    # where each library outside the base set comes from
    for bin in "$@"; do LD_LIBRARY_PATH="$RUNLIB" ldd "$bin" 2>/dev/null; done | awk '$2 == "=>" {print $1, $3}' |
        sort -u | while read -r so path; do
            [[ $so =~ $BASE_RE ]] && continue
            case "$path" in "$PFX"/*) echo "  from the carry  $so" ;; *) echo "  from the host   $so ($path)" ;; esac
        done
    return $missing
}

check_deps() { # targets...
    local bad=0 h
    # headers: count those from the prefix; in the dry run every other
    # header from /usr/include must belong to the C library or the kernel
    # headers (anything else would be missing on a bare host)
    local deps
    deps=$(ninja -C "$BUILD" -t deps 2>/dev/null | awk 'NF == 1 {print $1}' | sort -u)
    echo "  headers from the carry: $(grep -c "^$PFX/" <<<"$deps")"
    grep "^$PFX/" <<<"$deps" | sed "s#^$PFX/usr/include/##" | cut -d/ -f1 | sort | uniq -c | sed 's/^/    /'
    [ "$(grep -c "^$PFX/" <<<"$deps")" -gt 0 ] || { echo "  BAD  no header came from the carry"; bad=1; }
    if [ "$MODE" = dry ] && command -v dpkg >/dev/null; then
        local others owners o
        others=$(grep -E '^/usr/include/' <<<"$deps" | sort -u)
        if [ -n "$others" ]; then
            owners=$(xargs -r dpkg -S 2>/dev/null <<<"$others" | sed 's/: .*//' | tr ',' '\n' | sed 's/ //g; s/:.*//' | sort -u)
            echo "  /usr/include headers belong to: $(echo $owners)"
            for o in $owners; do
                case $o in libc6-dev|linux-libc-dev|libgcc-*-dev|libstdc++-*-dev|libc-dev-bin) ;;
                    *) echo "  BAD  headers from $o (not on a bare host; carry its -dev package):"
                       xargs -r dpkg -S 2>/dev/null <<<"$others" | grep "^$o" | head -5 | sed 's/^/         /'
                       bad=1 ;; esac
            done
        fi
    fi
    # shared libraries
    local bins=("$BUILD/mtbert")
    for h in "$@"; do [ -x "$BUILD/$h" ] && bins+=("$BUILD/$h"); done
    echo "run-lib ($RUNLIB) for ${#bins[@]} binaries:"
    make_runlib "${bins[@]}" || bad=1
    local b out
    for b in "${bins[@]}"; do
        out=$(LD_LIBRARY_PATH="$RUNLIB" ldd "$b" 2>&1)
        if grep -q "not found" <<<"$out"; then echo "  BAD  $(basename "$b"): $(grep 'not found' <<<"$out" | tr '\n' ' ')"; bad=1; fi
        if [ "$MODE" = dry ]; then
            # as on a bare host: a library neither carried nor basic must not be needed
            while read -r so _ path _; do
                [ -n "$path" ] || continue
                [[ $so =~ $BASE_RE ]] && continue
                case "$path" in "$PFX"/*|"$NCCL_ROOT_FOUND"/*) ;; *) echo "  BAD  $(basename "$b"): $so from $path (not carried)"; bad=1 ;; esac
            done < <(grep '=>' <<<"$out")
        fi
    done
    [ $bad -eq 0 ] && echo "  every header and library of ours resolves from the carry (or the host's base)"
    return $bad
}

# on the GPU host a skipped GPU test (no device found, no NCCL) is a failure
ctest_gpu_host() {
    local out rc
    out=$(mktemp)
    ctest --test-dir "$BUILD" -L gpu --output-on-failure --timeout 150 --no-tests=error 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    if grep -q 'Skipped' "$out"; then
        echo "FAILED: $(grep -c '\*\*\*Skipped' "$out") GPU test(s) skipped on a GPU host:"
        grep '\*\*\*Skipped' "$out"
        [ $rc -eq 0 ] && rc=1
    fi
    rm -f "$out"
    return $rc
}

# ---------------------------------------------------------------- run
export MODE ROOT PFX PCDIR ARCHLIB LIBPATH RUNLIB BUILD CARRY NVCC BASE_RE LOG
export -f deb_extract_py do_unpack do_configure check_paths needed make_runlib check_deps modules programs program_vars ctest_gpu_host

step unpack 120 do_unpack || { echo "cannot continue without the carry"; exit 1; }
# in this shell: it sets NCCL_ROOT_FOUND (the python call has its own limit)
t0=$(date +%s)
if find_nccl >>"$LOG" 2>&1; then
    RESULTS+=("nccl|ok|$(( $(date +%s) - t0 ))")
elif [ "$MODE" = dry ]; then
    RESULTS+=("nccl|not found: built without (dry)|$(( $(date +%s) - t0 ))") # comm_nccl.c -> stubs
else
    RESULTS+=("nccl|FAILED: not found|$(( $(date +%s) - t0 ))"); FAIL=1
fi
say "=== nccl: $NCCL_NOTE"
export NCCL_ROOT_FOUND
step configure 150 do_configure || exit 1
step check-paths 20 check_paths
list_targets >>"$LOG" 2>&1 || { say "=== list: FAILED"; RESULTS+=("list|FAILED|0"); FAIL=1; exit 1; }
step build "$BUILD_CAP" cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" || exit 1
step check-deps 60 check_deps "${TARGETS[@]}"

export LD_LIBRARY_PATH="$RUNLIB${NCCL_ROOT_FOUND:+:$NCCL_ROOT_FOUND/lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
step unit 60 ctest --test-dir "$BUILD" -R '^test_(plan_cache|comm_wait)$' --output-on-failure
if [ "$MODE" = dry ]; then
    # no GPU here: every GPU test must start and skip; none may fail
    step ctest-gpu 240 ctest --test-dir "$BUILD" -L gpu --output-on-failure --timeout 120
    skip_step memcheck "dry run"
    skip_step racecheck "dry run"
else
    step ctest-gpu 260 ctest_gpu_host
    if [ -n "$SAN" ] && [ -x "$BUILD/test_ops" ]; then
        # No --leak-check: the backend keeps its stream, cuBLAS handles, Lt
        # workspace, scratch and plan cache for the life of the process.
        step memcheck 200 "$SAN" --tool memcheck --error-exitcode 3 "$BUILD/test_ops" --backend cuda,cuda-bf16
        step racecheck 150 "$SAN" --tool racecheck --error-exitcode 3 "$BUILD/test_ops" --backend cuda attention
    else
        skip_step memcheck "compute-sanitizer or test_ops missing"; FAIL=1
        skip_step racecheck "compute-sanitizer or test_ops missing"
    fi
fi
exit $FAIL # the EXIT trap writes and prints the summary
