#!/usr/bin/env bash
# Builds the C ABI (debug), installs it into a temporary prefix with its pkg-config file, and
# runs the C tests against the committed header: the scenario linked with the shared library,
# with the static library, and under AddressSanitizer; the header included twice, as C and C++.
# First (no build needed) checks the header's BUILDNET_ERR_* codes against
# tests/vectors/error_codes.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== header: the BUILDNET_ERR_* codes are tests/vectors/error_codes.json's, plus BUFFER_TOO_SMALL"
python3 - include/buildnet.h tests/vectors/error_codes.json <<'EOF'
import json, re, sys

header, vector = sys.argv[1:]
defined = {}
for name, value in re.findall(r"^#define (BUILDNET_ERR_\w+) \((-?\d+)\)$", open(header).read(), re.M):
    if name in defined:
        sys.exit(f"{header}: {name} is defined twice")
    defined[name] = int(value)
codes = json.load(open(vector))["codes"]
expected = {}
for c in codes:
    if not c["code"].startswith("BUILDNET_"):
        sys.exit(f"{vector}: code {c['code']} does not start with BUILDNET_")
    expected["BUILDNET_ERR_" + c["code"][len("BUILDNET_"):]] = -c["number"]
if len(expected) != len(codes) or not codes:
    sys.exit(f"{vector}: {len(codes)} codes, {len(expected)} distinct")
expected["BUILDNET_ERR_BUFFER_TOO_SMALL"] = -13  # the C ABI's own
if defined != expected:
    for name in sorted(set(defined) | set(expected)):
        if defined.get(name) != expected.get(name):
            print(f"{name}: header {defined.get(name)}, expected {expected.get(name)}", file=sys.stderr)
    sys.exit(f"{header} and {vector} disagree")
print(f"ok {len(defined)} codes")
EOF

scripts/package-c.sh --debug "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags buildnet)
libs=$(pkg-config --libs buildnet)
static_libs=$(pkg-config --static --libs-only-l buildnet | sed 's/-lbuildnet//')
warn=(-std=c11 -Wall -Wextra -Wpedantic -Werror)

echo "== header: included twice, as C11 and as C++17"
cc "${warn[@]}" $cflags tests/c/header_twice.c -o "$work/header_twice" $libs -Wl,-rpath,"$work/prefix/lib"
"$work/header_twice"
c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror $cflags tests/c/header.cpp -o "$work/header_cpp" $libs -Wl,-rpath,"$work/prefix/lib"
"$work/header_cpp"

python3 tests/scenario/vectors.py > "$work/vectors.tsv"
run_scenario() { # name binary
    rm -rf "$work/ws" "$work/cycle"
    cp -r tests/scenario/workspace "$work/ws"
    cp -r tests/scenario/cycle "$work/cycle"
    echo "== scenario: $1"
    "$2" "$work/ws" "$work/cycle" "$work/vectors.tsv"
}

cc "${warn[@]}" -g $cflags tests/c/scenario.c -o "$work/scenario_shared" $libs -lpthread -Wl,-rpath,"$work/prefix/lib"
run_scenario "shared library" "$work/scenario_shared"

cc "${warn[@]}" -g $cflags tests/c/scenario.c -o "$work/scenario_static" \
    "$work/prefix/lib/libbuildnet.a" $static_libs
if ldd "$work/scenario_static" | grep -q libbuildnet; then
    echo "the static build links libbuildnet.so" >&2
    exit 1
fi
run_scenario "static library" "$work/scenario_static"

cc "${warn[@]}" -g -fsanitize=address,undefined -fno-omit-frame-pointer $cflags tests/c/scenario.c \
    -o "$work/scenario_asan" $libs -lpthread -Wl,-rpath,"$work/prefix/lib"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
    run_scenario "AddressSanitizer" "$work/scenario_asan"
echo "C tests passed"
