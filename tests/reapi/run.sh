#!/usr/bin/env bash
# Remote execution through a real engine: installs BuildGrid 0.4.4 and PostgreSQL
# (tests/reapi/setup.sh), starts one private PostgreSQL cluster for the whole run, and runs
# buildnet-daemon/tests/reapi.rs against it (each test makes its own database, BuildGrid and
# workers). The cluster is stopped on exit, whatever happens.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup.sh"
scratch="$(mktemp -d /tmp/buildnet-reapi.XXXXXX)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$here/engine.sh" pg-stop "$scratch/pg"; rm -rf "$scratch"; }
trap cleanup EXIT
"$here/engine.sh" pg-start "$scratch/pg" "$port"
cd "$here/../.."
# --workspace: the same features as scripts/test.sh's `cargo test --workspace`, so nothing is
# rebuilt for this one test binary.
BUILDNET_REAPI_PG_PORT="$port" timeout 900 cargo test --workspace --test reapi -- --test-threads=1 "$@"
