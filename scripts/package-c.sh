#!/usr/bin/env bash
# Builds the C ABI and installs it for C users into PREFIX:
#   PREFIX/lib/libbuildnet.so, PREFIX/lib/libbuildnet.a, PREFIX/include/buildnet.h,
#   PREFIX/lib/pkgconfig/buildnet.pc
# usage: scripts/package-c.sh [--debug] PREFIX      (release by default)
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs buildnet)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = "--debug" ]; then profile=debug; shift; fi
prefix=${1:?usage: scripts/package-c.sh [--debug] PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

if [ "$profile" = release ]; then cargo build --quiet --release -p buildnet-cabi
else cargo build --quiet -p buildnet-cabi; fi

case "$(uname -s)" in
    Darwin) shared=libbuildnet.dylib; native="-framework CoreServices -liconv -lSystem -lc -lm" ;;
    *) shared=libbuildnet.so; native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
cp "target/$profile/$shared" "target/$profile/libbuildnet.a" "$prefix/lib/"
cp include/buildnet.h "$prefix/include/"
cat > "$prefix/lib/pkgconfig/buildnet.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: buildnet
Description: BuildNet build daemon, embedded (C ABI)
URL: https://github.com/buildnet/buildnet
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lbuildnet
Libs.private: $native
PC
echo "installed libbuildnet $version ($profile) into $prefix"
