#!/usr/bin/env bash
# Generates include/buildnet.h from buildnet-cabi's source with cbindgen (a dev-dependency, so
# nothing is installed by hand). `--check` fails if the committed header is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p buildnet-cabi --example gen_header -- "$@"
