#!/usr/bin/env bash
# Tests @buildnet/node the way users get it: builds the addon (debug), checks that the committed
# generated files (index.js, index.d.ts) are what napi-rs generates, packs the main package and
# this platform's binary package with `npm pack`, installs both tarballs into a fresh project and
# runs bindings/node/test/*.test.mjs there against the installed package.
#
# usage: scripts/test-node.sh
#   SKIP_NAPI_BUILD=1   use the addon already in bindings/node instead of running `napi build`
#                       (for a machine where cargo is busy; the generated-file check still runs)
#   KEEP_WORK=1         keep the temporary folder (tarballs, project) and print its path
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
pkg=$repo/bindings/node

# The napi-rs name of this platform: linux-x64-gnu, darwin-arm64, win32-x64-msvc, ...
platform=$(node -p 'process.platform + "-" + process.arch')
case "$platform" in
    linux-*)
        if ldd --version 2>&1 | grep -qi musl; then platform=$platform-musl
        else platform=$platform-gnu; fi ;;
    win32-*) platform=$platform-msvc ;;
esac
binary=buildnet.$platform.node
[ -d "$pkg/npm/$platform" ] || { echo "no npm/$platform package for this platform" >&2; exit 1; }

echo "== npm ci (bindings/node)"
(cd "$pkg" && npm ci --no-audit --no-fund)

if [ "${SKIP_NAPI_BUILD:-}" = 1 ]; then
    echo "== napi build skipped (SKIP_NAPI_BUILD=1)"
else
    echo "== napi build (debug)"
    (cd "$pkg" && npx napi build --platform --manifest-path ../../buildnet-napi/Cargo.toml \
        --output-dir . --dts index.d.ts --js index.js)
fi
[ -f "$pkg/$binary" ] || { echo "bindings/node/$binary is missing" >&2; exit 1; }

echo "== generated index.js and index.d.ts are committed as generated"
if ! (cd "$pkg" && git diff --exit-code -- index.d.ts index.js); then
    echo "the generated index.d.ts / index.js differ from the committed ones: commit them" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/buildnet-node-pkg.XXXXXX")
cleanup() {
    rm -f "$pkg/npm/$platform/$binary"
    if [ "${KEEP_WORK:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== npm pack"
cp "$pkg/$binary" "$pkg/npm/$platform/"
mkdir -p "$work/tarballs"
(cd "$pkg" && npm pack --silent --pack-destination "$work/tarballs" >/dev/null)
(cd "$pkg/npm/$platform" && npm pack --silent --pack-destination "$work/tarballs" >/dev/null)
version=$(node -p "require('$pkg/package.json').version")
main_tgz=$work/tarballs/buildnet-node-$version.tgz
platform_tgz=$work/tarballs/buildnet-node-$platform-$version.tgz
ls -l "$work/tarballs"

# The main package ships the loader, the types and package.json, and no binary; the platform
# package ships the binary.
main_files=$(tar -tzf "$main_tgz")
for f in package/package.json package/index.js package/index.d.ts; do
    grep -qx "$f" <<<"$main_files" || { echo "$main_tgz lacks $f" >&2; exit 1; }
done
if grep -q '\.node$' <<<"$main_files"; then
    echo "$main_tgz ships a binary: $(grep '\.node$' <<<"$main_files")" >&2
    exit 1
fi
tar -tzf "$platform_tgz" | grep -qx "package/$binary" \
    || { echo "$platform_tgz lacks $binary" >&2; exit 1; }

echo "== install both tarballs into a fresh project"
project=$work/project
mkdir -p "$project"
cd "$project"
npm init -y >/dev/null
npm install --offline --no-audit --no-fund "$main_tgz" "$platform_tgz"
cp -r "$pkg/test" "$project/test"

# The package must come from the project, with its binary from the platform package.
resolved=$(node -p "require.resolve('@buildnet/node')")
binding=$(node -p "require.resolve('@buildnet/node-$platform')")
case "$resolved$binding" in
    "$project/node_modules/@buildnet/node/index.js$project/node_modules/@buildnet/node-$platform/$binary") ;;
    *) echo "resolved $resolved and $binding, not the installed packages" >&2; exit 1 ;;
esac
env -u NAPI_RS_NATIVE_LIBRARY_PATH node -e "
const b = require('@buildnet/node');
if (b.__napiBindingTarget !== 'native' || b.version() !== '$version') process.exit(1);
console.log('@buildnet/node ' + b.version() + ' loads its $platform binary');"

echo "== tests against the installed package"
env -u NAPI_RS_NATIVE_LIBRARY_PATH BUILDNET_NODE_PKG=@buildnet/node BUILDNET_REPO="$repo" \
    node --test test/*.test.mjs
