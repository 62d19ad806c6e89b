#!/usr/bin/env bash
# Installs what building, testing and benchmarking BuildNet need, from the package registries
# only (crates.io, Debian's packages). Idempotent: anything already present is left alone.
#
#   scripts/setup.sh          tools for the tests (b3sum, to compare `buildnet hash` with;
#                             faketime, to step a process's wall clock)
#   scripts/setup.sh --demo   also the demo monorepo's tools (esbuild, tsc: `npm ci`)
#   scripts/setup.sh --bench  also the benchmark peers (hyperfine, xxhsum, turbo, nx)
set -euo pipefail

bench=0
demo=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1; demo=1 ;;
    --demo) demo=1 ;;
    *) echo "usage: scripts/setup.sh [--demo] [--bench]" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/.." && pwd)"

need_cmd() { command -v "$1" >/dev/null 2>&1; }

if ! need_cmd cargo; then
  echo "setup: cargo is required (the machine's Rust toolchain)" >&2
  exit 1
fi

if ! need_cmd b3sum; then
  echo "setup: installing b3sum from crates.io"
  cargo install --locked --quiet b3sum
fi

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]} from Debian's packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The C ABI tests: a C and a C++ compiler, pkg-config, and the sanitizer runtimes (gcc's).
need_cmd pkg-config || apt_install pkg-config
need_cmd c++ || apt_install g++
# The clock tests step the wall clock of one process with libfaketime.
need_cmd faketime || apt_install faketime
# The Python binding's tests build and install a wheel in virtual environments.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv

if [ "$demo" -eq 1 ]; then
  need_cmd npm || apt_install nodejs npm
  demo_dir="$repo/examples/monorepo"
  if [ ! -x "$demo_dir/node_modules/.bin/tsc" ] || [ ! -x "$demo_dir/node_modules/.bin/esbuild" ] \
     || [ "$demo_dir/package-lock.json" -nt "$demo_dir/node_modules/.package-lock.json" ]; then
    echo "setup: installing the demo monorepo's tools (npm ci)"
    (cd "$demo_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# The remote-cache tests drive Debian's Bazel as an HTTP-cache client.
[ "$demo" -eq 1 ] && apt_install bazel-bootstrap

if [ "$bench" -eq 1 ]; then
  apt_install hyperfine xxhash wrk
fi
