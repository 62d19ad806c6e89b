#!/usr/bin/env bash
# Starts and stops the remote-execution peers for the tests, on 127.0.0.1:
#   engine.sh pg-start DIR PORT     a private PostgreSQL cluster in DIR (initdb on first use)
#   engine.sh pg-stop DIR
#   engine.sh bgd-start DIR PGPORT PORT [KEEPALIVE_S]
#                                   a fresh database and BuildGrid with CAS (on disk, in DIR),
#                                   action cache, ByteStream, execution and bots; prints its pid
#                                   BGD_POLL=SECONDS sets BuildGrid's poll, bot-poll and job
#                                   assignment intervals (default: BuildGrid's, 1 s each)
# Every wait is bounded; a failure prints the server's log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
case "$1" in
  pg-start)
    dir="$2"; port="$3"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir" && chmod 700 "$dir"
    # Every folder above must be passable for the postgres user.
    p="$dir"; while [ "$p" != "/" ]; do p="$(dirname "$p")"; [ "$(id -u)" -eq 0 ] && chmod o+x "$p" 2>/dev/null || true; done
    [ -f "$dir/PG_VERSION" ] || as_pg "$pg_bin/initdb -D '$dir' -A trust -U bgd" >/dev/null
    as_pg "$pg_bin/pg_ctl -D '$dir' -l '$dir/log' -t 30 -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=off\" -w start" >/dev/null \
      || { cat "$dir/log" >&2; exit 1; }
    ;;
  pg-stop)
    as_pg "$pg_bin/pg_ctl -D '$2' -m fast -t 30 stop" >/dev/null 2>&1 || true
    ;;
  bgd-start)
    dir="$2"; pgport="$3"; port="$4"; keepalive="${5:-600}"
    db="bgd_$port"
    rm -rf "$dir"; mkdir -p "$dir/cas"
    "$pg_bin/dropdb" -h 127.0.0.1 -p "$pgport" -U bgd --if-exists "$db"
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pgport" -U bgd "$db"
    url="postgresql+psycopg2://bgd@127.0.0.1:$pgport/$db"
    "$here/.venv/bin/bgd" migrate apply "$url" >"$dir/migrate.log" 2>&1 || { cat "$dir/migrate.log" >&2; exit 1; }
    cat >"$dir/bgd.yml" <<YML
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: "$url"
    pool-size: 5
storages:
  - !disk-storage &disk
    path: "$dir/cas"
caches:
  - !lru-action-cache &ac
    storage: *disk
    max-cached-refs: 4096
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &sched
    sql: *sql
    storage: *disk
    action-cache: *ac
    bot-session-keepalive-timeout: $keepalive
${BGD_POLL:+    poll-interval: $BGD_POLL
    bot-poll-interval: $BGD_POLL
    job-assignment-interval: $BGD_POLL
}    property-set: !dynamic-property-set
      match-property-keys: []
      wildcard-property-keys: []
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *disk
      - !bytestream
        storage: *disk
      - !execution
        scheduler: *sched
      - !bots
        scheduler: *sched
YML
    setsid timeout 1800 "$here/.venv/bin/bgd" server start -v "$dir/bgd.yml" >"$dir/bgd.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 150); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$pid"; exit 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    cat "$dir/bgd.log" >&2; kill "$pid" 2>/dev/null; exit 1
    ;;
  *) echo "usage: engine.sh pg-start|pg-stop|bgd-start ..." >&2; exit 2 ;;
esac
