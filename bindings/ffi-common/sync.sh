#!/bin/sh
# Copies the TypeScript shared by the Bun and Deno packages (bindings/ffi-common/*.ts) into
# bindings/bun and bindings/deno, next to index.ts and mod.ts, which import them as ./<name>.ts.
# The copies are git-ignored (each package's .gitignore); edit the files here, not the copies.
# Run before testing (scripts/test-ffi.sh does) and before packing (the packages' prepack
# script and `deno task publish` do).
#
#   bindings/ffi-common/sync.sh            # both packages
#   bindings/ffi-common/sync.sh bun        # one
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ "$#" -gt 0 ] || set -- bun deno
for pkg in "$@"; do
  dest="$here/../$pkg"
  if [ ! -d "$dest" ]; then
    echo "ffi-common/sync.sh: no package folder $dest" >&2
    exit 1
  fi
  for file in "$here"/*.ts; do
    # Unchanged copies are left alone (no new mtime for watchers).
    cmp -s "$file" "$dest/$(basename "$file")" || cp "$file" "$dest/"
  done
done
