#!/usr/bin/env bash
# fetch_carry.sh — download, on a machine with apt and a network, the Debian
# packages that tests/gpu/run_gpu_tests.sh unpacks on a bare GPU host (no
# apt packages there, no network). The list follows CMakeLists.txt: for every
# pkg_check_modules(... REQUIRED IMPORTED_TARGET module) the -dev package that
# owns module.pc here and the runtime package of each library it links, for
# every find_program(VAR tool REQUIRED) the tool's package; then pkgconf, and
# every library package those runtime packages need, recursively, except the
# few that any host with dpkg and a compiler has (BASE below). So this
# machine must have the -dev packages installed (launch/install-deps.sh).
# Into .devcarry/debs (git-ignored; name .devcarry in the device tool's
# carry), with a MANIFEST.txt; prints the total size, fails over the limit.
#
#   tests/gpu/tools/fetch_carry.sh            # from anywhere in the repo
#   CARRY_DIR=/some/dir  CARRY_LIMIT_MIB=50   # overrides
#
# apt-get download needs the package lists: they are updated first when a
# package cannot be found (as root, or through sudo). No network: fails
# loudly.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
CARRY="${CARRY_DIR:-$ROOT/.devcarry}"
DEST="$CARRY/debs"
LIMIT_MIB="${CARRY_LIMIT_MIB:-50}"
LIBDIR=/usr/lib/x86_64-linux-gnu

# always: pkg-config itself (the host may have none) and the runtime of the
# Fortran-built OpenBLAS
RUNTIME=(pkgconf-bin libpkgconf3 libgfortran5 libquadmath0)
DEV=()
# assumed on the host: the C library, the compiler's runtime, compression
# libraries dpkg itself needs, and packages that are no libraries
BASE=(libc6 libc6-dev libgcc-s1 libstdc++6 gcc-12-base zlib1g libzstd1 liblzma5 libbz2-1.0
      libselinux1 libmd0 debconf dpkg perl-base libcrypt1 libc-bin)

die() { echo "fetch_carry: $*" >&2; exit 1; }
command -v apt-get >/dev/null && command -v apt-cache >/dev/null || die "needs apt-get and apt-cache (Debian/Ubuntu)"

# the package that owns a file here ("pkg:arch: /path" -> pkg)
owner() { dpkg -S "$(readlink -f "$1")" 2>/dev/null | head -1 | cut -d: -f1 | cut -d, -f1; }
command -v pkg-config >/dev/null || die "needs pkg-config here (launch/install-deps.sh)"
MODULES=$(sed -n 's/^[^#]*pkg_check_modules([A-Za-z0-9_]* *REQUIRED *IMPORTED_TARGET *\([^ )]*\).*/\1/p' "$ROOT/CMakeLists.txt")
PROGRAMS=$(sed -n 's/^[^#]*find_program([A-Za-z0-9_]* *\([^ )]*\) *REQUIRED.*/\1/p' "$ROOT/CMakeLists.txt")
[ -n "$MODULES" ] || die "found no pkg_check_modules(... REQUIRED IMPORTED_TARGET ...) in CMakeLists.txt"
for m in $MODULES; do
    pc=$(pkg-config --path "$m" 2>/dev/null) || die "pkg-config finds no $m here: install the -dev packages first (launch/install-deps.sh)"
    d=$(owner "$pc"); [ -n "$d" ] || die "no package owns $pc"
    DEV+=("$d")
    dirs=$(pkg-config --libs-only-L "$m" | sed 's/-L//g')
    for l in $(pkg-config --libs-only-l "$m" | sed 's/-l//g'); do
        f=""
        for dir in $dirs $LIBDIR; do [ -e "$dir/lib$l.so" ] && { f="$dir/lib$l.so"; break; }; done
        [ -n "$f" ] || die "module $m: no lib$l.so in $dirs $LIBDIR"
        r=$(owner "$f"); [ -n "$r" ] || die "no package owns $(readlink -f "$f")"
        RUNTIME+=("$r")
        echo "fetch_carry: $m -> $d, lib$l -> $r"
    done
done
for t in $PROGRAMS; do
    f=$(command -v "$t") || die "find_program $t: not installed here (launch/install-deps.sh)"
    r=$(owner "$f"); [ -n "$r" ] || die "no package owns $f"
    RUNTIME+=("$r")
    echo "fetch_carry: program $t -> $r"
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
if ! apt-cache show "${RUNTIME[0]}" >/dev/null 2>&1; then
    echo "fetch_carry: package lists lack ${RUNTIME[0]}: apt-get update"
    as_root apt-get update -q || die "apt-get update failed (no network?)"
    apt-cache show "${RUNTIME[0]}" >/dev/null 2>&1 || die "no package ${RUNTIME[0]} in this machine's apt sources"
fi

# the runtime packages' library dependencies, recursively
mapfile -t CLOSURE < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${RUNTIME[@]}" 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u)
declare -A skip=()
for b in "${BASE[@]}"; do skip[$b]=1; done
PKGS=()
declare -A seen=()
for p in "${RUNTIME[@]}" "${CLOSURE[@]}" "${DEV[@]}"; do
    p=${p%%:*}
    [ -n "${skip[$p]:-}" ] || [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    PKGS+=("$p")
done

mkdir -p "$DEST"
rm -f "$DEST"/*.deb "$DEST/MANIFEST.txt"
echo "fetch_carry: ${#PKGS[@]} packages into $DEST"
( cd "$DEST" && apt-get download -q "${PKGS[@]}" ) 2>&1 | grep -v "^W: Download is performed unsandboxed" ||
    true
n=$(ls "$DEST"/*.deb 2>/dev/null | wc -l)
[ "$n" -eq "${#PKGS[@]}" ] || die "downloaded $n of ${#PKGS[@]} packages (no network? see above)"

{
    echo "# fetched $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release && echo "$PRETTY_NAME") by tests/gpu/tools/fetch_carry.sh"
    for f in "$DEST"/*.deb; do
        printf '%s %s %s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" "$(stat -c %s "$f")"
    done
} > "$DEST/MANIFEST.txt"
bytes=$(cat "$DEST"/*.deb | wc -c)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "fetch_carry: $n packages, $mib MiB in $DEST (limit $LIMIT_MIB MiB)"
awk -v b="$bytes" -v l="$LIMIT_MIB" 'BEGIN { exit !(b <= l * 1048576) }' ||
    die "the carry is $mib MiB, over the $LIMIT_MIB MiB limit"
