#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL and Redis on loopback for the test suite.
# Usage: scripts/services.sh start|stop   (prints the export lines on start)
set -euo pipefail
DIR="${FEDPLANE_SERVICES_DIR:-/tmp/fedplane-services}"
PG_PORT="${FEDPLANE_PG_PORT:-55432}"
REDIS_PORT="${FEDPLANE_REDIS_PORT:-56379}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

find_pg_bin() {
  for candidate in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && { echo "$candidate"; return; }
  done
}

install_missing() {
  local need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  [ -n "$(find_pg_bin)" ] || need+=(postgresql)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} from Debian packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
}

start() {
  install_missing
  local pgbin; pgbin="$(find_pg_bin)"
  mkdir -p "$DIR"; chmod 755 "$DIR"
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"; [ "$(id -u)" = 0 ] && chown postgres "$DIR/pg"
    as_pg "$pgbin/initdb" -D "$DIR/pg" -U fedplane -A trust --no-sync >/dev/null
  fi
  if ! as_pg "$pgbin/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    as_pg "$pgbin/pg_ctl" -D "$DIR/pg" -w -l "$DIR/pg/server.log" \
      -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
  fi
  psql -h 127.0.0.1 -p "$PG_PORT" -U fedplane -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='fedplane'" | grep -q 1 \
    || createdb -h 127.0.0.1 -p "$PG_PORT" -U fedplane fedplane
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid" >&2
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export DATABASE_URL=postgres://fedplane@127.0.0.1:$PG_PORT/fedplane"
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/1"
}

stop() {
  local pgbin; pgbin="$(find_pg_bin)"
  [ -f "$DIR/pg/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

"${1:-start}"
