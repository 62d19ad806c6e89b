#!/usr/bin/env bash
# Installs the remote-execution test peers, from the package registries only: Debian's
# PostgreSQL (BuildGrid's scheduler refuses SQLite) and BuildGrid 0.4.4 from PyPI, in a venv of
# this folder (the newest that Python 3.11 takes). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "setup: installing postgresql from Debian's packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
venv="$here/.venv"
if [ ! -x "$venv/bin/bgd" ] || ! "$venv/bin/python" -c 'import psycopg2' 2>/dev/null; then
  echo "setup: installing buildgrid 0.4.4 from PyPI into tests/reapi/.venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "buildgrid[database]==0.4.4"
fi
"$venv/bin/bgd" --help >/dev/null
