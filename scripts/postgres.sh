#!/usr/bin/env bash
# Starts (or reuses) a throwaway PostgreSQL server for the test suite on 127.0.0.1 and prints its
# URL. Data lives in $PLUE_TEST_PG_DIR (default /tmp/plue-test-pg); it is disposable.
set -euo pipefail
PORT="${PLUE_TEST_PG_PORT:-55432}"
DIR="${PLUE_TEST_PG_DIR:-/tmp/plue-test-pg}"
URL="postgres://postgres@127.0.0.1:${PORT}/postgres"

bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin="$d"; done
if [ -z "$bin" ]; then
  echo "scripts/postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    as_pg "$bin/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $PORT -k /tmp -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
fi
echo "$URL"
