# Shared by tests/run.sh and bench/run.sh (sourced, not run): installs what is missing and starts
# PostgreSQL and Redis on free loopback ports in a temporary directory, stopped on exit.
# After `start_services`: $PG_URL (a server URL whose user may create databases) and $REDIS_URL.

log() { printf '\n== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to install: $*" >&2; exit 1; fi
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_missing() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  { [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] && id postgres >/dev/null 2>&1; } || missing+=(postgresql)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_services() {
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    run_pg "$PG/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}

start_services() {
  work=$(mktemp -d /tmp/bangban-services.XXXXXX)
  chmod 755 "$work"
  redis_port=$(free_port)
  pg_port=$(free_port)
  PG=$(pg_bin)
  trap stop_services EXIT

  log "starting Redis on 127.0.0.1:$redis_port"
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/redis" --daemonize yes --pidfile "$work/redis/redis.pid" \
    --logfile "$work/redis/redis.log"

  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  mkdir -p "$work/pg"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$work/pg"; fi
  chmod 700 "$work/pg"
  run_pg "$PG/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
  run_pg "$PG/pg_ctl" -D "$work/pg/data" -l "$work/pg/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $work/pg -c fsync=off -c max_connections=300" start >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

  PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  REDIS_URL="redis://127.0.0.1:$redis_port/"
  export PG_URL REDIS_URL
}
