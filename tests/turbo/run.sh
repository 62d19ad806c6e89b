#!/usr/bin/env bash
# The turbo oracle: installs the tools (setup.sh), then compares `turbo run` with `buildnet run`
# on every fixture (oracle.test.mjs). BUILDNET_BIN picks the binary (default
# target/debug/buildnet); TURBO_ONLY=1 runs turbo's half alone; FIXTURES=npm,pnpm narrows.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup.sh"
unset NODE_EXTRA_CA_CERTS
exec node --test --test-concurrency=1 --test-reporter=spec "$@" "$here/oracle.test.mjs"
