#!/usr/bin/env bash
# dataport as deployed, on one machine: PostgreSQL, PgBouncer in transaction pooling mode, three
# `dataport serve` replicas through it, and nginx (grpc_pass) in front of them.
#
#   deploy/local-cluster.sh start DIR [options]   start everything, print the client settings
#   deploy/local-cluster.sh stop DIR              stop what `start` started (by PID), keep DIR
#   deploy/local-cluster.sh status DIR            which parts are running
#
# Options for start:
#   --dataport BIN       the dataport binary (default: target/release/dataport, then PATH)
#   --postgres-url URL   use this PostgreSQL database instead of starting a private one in DIR
#   --base-port N        first of the ports used (default 61400; outside Linux's ephemeral range):
#                        N nginx, N+1..N+3 replicas, N+4 PgBouncer, N+5 private PostgreSQL
#   --replicas K         how many replicas (default 3)
#   --pool-size N        --database-pool-size of each replica (default 4)
#   --lease-secs N       --job-lease-secs of each replica (default 15)
#
# Everything listens on 127.0.0.1 only. DIR/cluster.env holds the URLs, the admin token file
# and every PID; `stop` reads it and stops exactly those processes. Logs are in DIR/*/.
# PgBouncer and PostgreSQL refuse to run as root: as root, the script runs them as `postgres`.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2

dataport=""
postgres_url=""
base_port=61400
replicas=3
pool_size=4
lease_secs=15
while [ $# -gt 0 ]; do
  case $1 in
    --dataport) dataport=$2; shift 2 ;;
    --postgres-url) postgres_url=$2; shift 2 ;;
    --base-port) base_port=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --pool-size) pool_size=$2; shift 2 ;;
    --lease-secs) lease_secs=$2; shift 2 ;;
    *) echo "local-cluster: unknown option $1" >&2; usage ;;
  esac
done

log() { echo "local-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# PostgreSQL and PgBouncer as an unprivileged user when we are root.
service_user=""
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to run PostgreSQL and PgBouncer"
  service_user=postgres
fi
as_service() {
  if [ -n "$service_user" ]; then runuser -u "$service_user" -- "$@"; else "$@"; fi
}

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$found" ] || found=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [ -x "$found/initdb" ] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
  echo "$found"
}

find_exe() { # name, then fallbacks
  local name=$1
  command -v "$name" 2>/dev/null && return 0
  for p in "/usr/sbin/$name" "/usr/local/sbin/$name"; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most $2 seconds).
wait_port() {
  local port=$1 limit=$2 what=$3 i
  for i in $(seq 1 $((limit * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$what did not start listening on 127.0.0.1:$port within ${limit}s (see its log in $dir)"
}

env_file() { echo "$dir/cluster.env"; }

stop_cluster() {
  local file
  file=$(env_file)
  [ -f "$file" ] || { log "nothing to stop: $file does not exist"; return 0; }
  # shellcheck disable=SC1090
  . "$file"
  # A start that failed early may not have recorded the daemons' PIDs: their pid files are ours.
  local pid
  [ -n "${NGINX_PID:-}" ] || NGINX_PID=$(cat "$dir/nginx/nginx.pid" 2>/dev/null || true)
  [ -n "${PGBOUNCER_PID:-}" ] || PGBOUNCER_PID=$(cat "$dir/pgbouncer/pgbouncer.pid" 2>/dev/null || true)
  for pid in $NGINX_PID ${REPLICA_PIDS:-} $PGBOUNCER_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $NGINX_PID ${REPLICA_PIDS:-} $PGBOUNCER_PID; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${PRIVATE_PGDATA:-}" ] && [ -f "$PRIVATE_PGDATA/postmaster.pid" ]; then
    as_service "$(pg_bin)/pg_ctl" -D "$PRIVATE_PGDATA" -m fast -w stop >/dev/null || true
  fi
  log "stopped"
}

status_cluster() {
  local file
  file=$(env_file)
  [ -f "$file" ] || die "$file does not exist; run start first"
  # shellcheck disable=SC1090
  . "$file"
  local pid
  for pid in $NGINX_PID $REPLICA_PIDS $PGBOUNCER_PID; do
    if kill -0 "$pid" 2>/dev/null; then echo "running $pid $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-80)"; else echo "stopped $pid"; fi
  done
}

start_cluster() {
  [ -f "$(env_file)" ] && die "$(env_file) exists: stop the cluster first, or use another DIR"
  if [ -z "$dataport" ]; then
    if [ -x target/release/dataport ]; then dataport=$PWD/target/release/dataport
    else dataport=$(command -v dataport) || die "no dataport binary: build it (cargo build --release) or pass --dataport BIN"
    fi
  fi
  dataport=$(realpath "$dataport")
  local pgbouncer nginx
  pgbouncer=$(find_exe pgbouncer) || die "pgbouncer not found (apt-get install pgbouncer)"
  nginx=$(find_exe nginx) || die "nginx not found (apt-get install nginx-light)"

  mkdir -p "$dir"
  dir=$(realpath "$dir")
  local nginx_port=$base_port bouncer_port=$((base_port + 4)) pg_port=$((base_port + 5))
  pids_file="$dir/cluster.env.partial"
  : >"$pids_file"
  # A failed start (a failed command or a `die`) stops what it had started.
  started=""
  trap 'if [ -z "$started" ]; then log "start failed; stopping what was started"; mv "$pids_file" "$(env_file)"; stop_cluster; rm -f "$(env_file)"; fi' EXIT

  # --- PostgreSQL ----------------------------------------------------------------------------
  local db_user db_password db_host db_port db_name
  if [ -z "$postgres_url" ]; then
    local pgdata="$dir/postgres/data"
    mkdir -p "$dir/postgres"
    [ -n "$service_user" ] && chown "$service_user" "$dir/postgres"
    db_user=dataport db_password=dataport db_host=127.0.0.1 db_port=$pg_port db_name=dataport
    if [ ! -f "$pgdata/PG_VERSION" ]; then
      echo "$db_password" >"$dir/postgres/pwfile"
      [ -n "$service_user" ] && chown "$service_user" "$dir/postgres/pwfile"
      as_service "$(pg_bin)/initdb" -D "$pgdata" -U "$db_user" --pwfile="$dir/postgres/pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/postgres/initdb.log"
      rm -f "$dir/postgres/pwfile"
    fi
    echo "PRIVATE_PGDATA=$pgdata" >>"$pids_file"
    as_service "$(pg_bin)/pg_ctl" -D "$pgdata" -l "$dir/postgres/postgres.log" -w \
      -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$dir/postgres -c max_connections=100" \
      start >/dev/null
    PGPASSWORD=$db_password psql -h 127.0.0.1 -p "$pg_port" -U "$db_user" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 ||
      PGPASSWORD=$db_password psql -h 127.0.0.1 -p "$pg_port" -U "$db_user" -d postgres -qc "CREATE DATABASE $db_name"
    postgres_url="postgres://$db_user:$db_password@127.0.0.1:$pg_port/$db_name"
    log "PostgreSQL on 127.0.0.1:$pg_port ($pgdata)"
  fi
  # postgres://user:password@host:port/db, the shape this script writes and needs.
  local re='^postgres(ql)?://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/([^?]+)$'
  [[ $postgres_url =~ $re ]] || die "--postgres-url must look like postgres://USER:PASSWORD@HOST:PORT/DB"
  db_user=${BASH_REMATCH[2]} db_password=${BASH_REMATCH[3]} db_host=${BASH_REMATCH[4]}
  db_port=${BASH_REMATCH[5]} db_name=${BASH_REMATCH[6]}

  # --- PgBouncer, transaction pooling ---------------------------------------------------------
  mkdir -p "$dir/pgbouncer"
  printf '"%s" "%s"\n' "$db_user" "$db_password" >"$dir/pgbouncer/userlist.txt"
  chmod 600 "$dir/pgbouncer/userlist.txt"
  cat >"$dir/pgbouncer/pgbouncer.ini" <<INI
[databases]
$db_name = host=$db_host port=$db_port dbname=$db_name

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/pgbouncer/userlist.txt
pool_mode = transaction
; three replicas × (pool + export snapshots) client connections onto a few server ones
max_client_conn = 500
default_pool_size = 20
logfile = $dir/pgbouncer/pgbouncer.log
pidfile = $dir/pgbouncer/pgbouncer.pid
INI
  [ -n "$service_user" ] && chown -R "$service_user" "$dir/pgbouncer"
  as_service "$pgbouncer" -d "$dir/pgbouncer/pgbouncer.ini"
  wait_port "$bouncer_port" 10 PgBouncer
  local pgbouncer_pid
  pgbouncer_pid=$(cat "$dir/pgbouncer/pgbouncer.pid")
  echo "PGBOUNCER_PID=$pgbouncer_pid" >>"$pids_file"
  local bouncer_url="postgres://$db_user:$db_password@127.0.0.1:$bouncer_port/$db_name"
  log "PgBouncer (transaction pooling) on 127.0.0.1:$bouncer_port"

  # --- the admin token: migrates the database through PgBouncer, as the replicas will ----------
  local token_file="$dir/admin.token"
  if [ ! -s "$token_file" ]; then
    (umask 077 && "$dataport" token create --name "cluster-admin-$(date +%s)" --permissions admin \
      --database-url "$bouncer_url" >"$token_file.tmp" 2>"$dir/token-create.log") ||
      { rm -f "$token_file.tmp"; die "could not create the admin token through PgBouncer: $(cat "$dir/token-create.log")"; }
    mv "$token_file.tmp" "$token_file"
  fi

  # --- the replicas ---------------------------------------------------------------------------
  local i port replica_pids="" upstreams="" replica_urls=""
  for i in $(seq 1 "$replicas"); do
    port=$((base_port + i))
    mkdir -p "$dir/replica-$i"
    (cd "$dir/replica-$i" && exec setsid "$dataport" serve --listen "127.0.0.1:$port" \
      --database-url "$bouncer_url" --database-pool-size "$pool_size" --job-lease-secs "$lease_secs" \
      --token-file "$token_file" >"$dir/replica-$i/serve.log" 2>&1 </dev/null) &
    replica_pids="$replica_pids $!"
    upstreams="$upstreams        server 127.0.0.1:$port;"$'\n'
    replica_urls="$replica_urls http://127.0.0.1:$port"
  done
  echo "REPLICA_PIDS='${replica_pids# }'" >>"$pids_file"
  for i in $(seq 1 "$replicas"); do wait_port $((base_port + i)) 60 "replica $i"; done
  log "replicas on${replica_urls}"

  # --- nginx, grpc_pass -----------------------------------------------------------------------
  mkdir -p "$dir/nginx/tmp"
  chmod 1777 "$dir/nginx/tmp"
  cat >"$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/nginx/access.log;
    client_body_temp_path $dir/nginx/tmp/body;
    proxy_temp_path $dir/nginx/tmp/proxy;
    fastcgi_temp_path $dir/nginx/tmp/fastcgi;
    uwsgi_temp_path $dir/nginx/tmp/uwsgi;
    scgi_temp_path $dir/nginx/tmp/scgi;
    upstream dataport {
$upstreams        keepalive 32;
    }
    server {
        listen 127.0.0.1:$nginx_port http2;
        # Uploads and downloads are streams of 1 MiB messages that may last hours.
        client_max_body_size 0;
        client_body_timeout 1h;
        grpc_read_timeout 1h;
        grpc_send_timeout 1h;
        grpc_socket_keepalive on;
        location / {
            grpc_pass grpc://dataport;
        }
    }
}
CONF
  "$nginx" -t -q -c "$dir/nginx/nginx.conf" -p "$dir/nginx" 2>>"$dir/nginx/error.log" ||
    die "nginx rejected $dir/nginx/nginx.conf (see $dir/nginx/error.log)"
  "$nginx" -c "$dir/nginx/nginx.conf" -p "$dir/nginx"
  wait_port "$nginx_port" 10 nginx
  echo "NGINX_PID=$(cat "$dir/nginx/nginx.pid")" >>"$pids_file"

  {
    echo "DATAPORT_SERVER=http://127.0.0.1:$nginx_port"
    echo "DATAPORT_TOKEN_FILE=$token_file"
    echo "REPLICA_URLS='${replica_urls# }'"
    echo "PGBOUNCER_URL=$bouncer_url"
    echo "POSTGRES_URL=$postgres_url"
  } >>"$pids_file"
  mv "$pids_file" "$(env_file)"
  started=1
  log "nginx (grpc_pass) on 127.0.0.1:$nginx_port"
  echo "export DATAPORT_SERVER=http://127.0.0.1:$nginx_port"
  echo "export DATAPORT_TOKEN_FILE=$token_file"
}

case $command in
  start) start_cluster ;;
  stop) stop_cluster ;;
  status) status_cluster ;;
  *) usage ;;
esac
