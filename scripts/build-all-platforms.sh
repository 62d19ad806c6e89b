#!/usr/bin/env bash
# Release builds for the six targets of the design: the `buildnet` executable, libbuildnet
# (.so/.dylib/.dll and the static library, with include/buildnet.h), the Node addon
# (@buildnet/node's per-platform .node) and the Python wheel (abi3).
#
#   scripts/build-all-platforms.sh [--only TARGET]... [--out DIR]     (default out: dist/)
#
# The host target builds with plain cargo. Every other target needs its Rust standard library
# (`rustup target add T`) and a linker for it: cargo-zigbuild (with zig) for Linux and macOS
# targets, cargo-xwin for Windows MSVC, or `cross` (which needs a container engine). What
# cannot be built here is skipped, and the summary says which and why; the release workflow
# (.github/workflows/release.yml) runs each target on a runner that can build it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

targets=(
  x86_64-unknown-linux-gnu
  aarch64-unknown-linux-gnu
  x86_64-unknown-linux-musl
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-msvc
)
only=()
out=$repo/dist
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: scripts/build-all-platforms.sh [--only TARGET]... [--out DIR]" >&2; exit 2 ;;
  esac
done
[ ${#only[@]} -gt 0 ] && targets=("${only[@]}")

host=$(rustc -vV | sed -n 's/^host: //p')
installed=$(rustup target list --installed 2>/dev/null || echo "$host")
have() { command -v "$1" >/dev/null 2>&1; }

# How to build for a target here, or why not (printed as "skip: reason").
builder_for() {
  local t=$1
  if [ "$t" = "$host" ]; then echo cargo; return; fi
  if ! grep -qx "$t" <<<"$installed"; then
    echo "skip: the Rust standard library for $t is not installed (rustup target add $t)"; return
  fi
  case "$t" in
    *windows-msvc) have cargo-xwin && { echo xwin; return; } ;;
    *) have cargo-zigbuild && have zig && { echo zigbuild; return; } ;;
  esac
  have cross && docker info >/dev/null 2>&1 && { echo cross; return; }
  echo "skip: no linker for $t here (install cargo-zigbuild + zig, cargo-xwin, or cross with a container engine)"
}

summary=()
for t in "${targets[@]}"; do
  how=$(builder_for "$t")
  if [[ "$how" == skip:* ]]; then
    summary+=("$t: ${how#skip: }")
    continue
  fi
  dest=$out/$t
  mkdir -p "$dest"
  echo "== $t (with $how)"
  case "$how" in
    cargo) cargo_build=(cargo build) ;;
    zigbuild) cargo_build=(cargo zigbuild) ;;
    xwin) cargo_build=(cargo xwin build) ;;
    cross) cargo_build=(cross build) ;;
  esac
  "${cargo_build[@]}" --release --target "$t" -p buildnet-daemon -p buildnet-cabi
  rel=target/$t/release
  case "$t" in
    *windows*) cp "$rel/buildnet.exe" "$rel/buildnet.dll" "$rel/buildnet.dll.lib" "$rel/buildnet.lib" "$dest/" ;;
    *apple*) cp "$rel/buildnet" "$rel/libbuildnet.dylib" "$rel/libbuildnet.a" "$dest/" ;;
    *) cp "$rel/buildnet" "$rel/libbuildnet.so" "$rel/libbuildnet.a" "$dest/" ;;
  esac
  cp include/buildnet.h "$dest/"

  # The Node addon, named as @buildnet/node's per-platform package expects.
  (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null \
    && case "$how" in
         cargo) npx napi build --platform --release --target "$t" --manifest-path ../../buildnet-napi/Cargo.toml --output-dir "$dest" --no-js --dts index.d.ts ;;
         *) npx napi build --platform --release --target "$t" --cross-compile --manifest-path ../../buildnet-napi/Cargo.toml --output-dir "$dest" --no-js --dts index.d.ts ;;
       esac)
  rm -f "$dest/index.d.ts"

  # The Python wheel (abi3: one wheel per platform for every CPython >= 3.9).
  venv=$repo/target/py-build
  vbin=$venv/bin
  case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) vbin=$venv/Scripts ;; esac
  python=$(command -v python3 || command -v python)
  [ -x "$vbin/maturin" ] || [ -x "$vbin/maturin.exe" ] || { "$python" -m venv "$venv" && "$vbin/pip" install -q maturin==1.16.0; }
  zig_flag=""
  [ "$how" = zigbuild ] && zig_flag=--zig
  (cd bindings/python && "$vbin/maturin" build --release --target "$t" $zig_flag -o "$dest")
  summary+=("$t: built into ${dest#$repo/}")
done

echo
echo "== summary"
printf '  %s\n' "${summary[@]}"
