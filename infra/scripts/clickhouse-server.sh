#!/usr/bin/env bash
# A private, throw-away ClickHouse server for tests and local runs: Debian's
# clickhouse-server package (18.16 on bookworm), installed with apt-get when it
# is missing, started as a background process with its own config and data
# folder under /tmp, listening on 127.0.0.1 only, user `default` without a
# password. Never touches the system service or /etc/clickhouse-server.
#
#   clickhouse-server.sh start [--tcp-port 19000] [--http-port 18123] [--dir DIR]
#       prints the URL (clickhouse://default@127.0.0.1:PORT/default) once the
#       server answers SELECT 1; exits non-zero with the server's log otherwise
#   clickhouse-server.sh stop  [--tcp-port 19000] [--dir DIR] [--keep]
#       stops that server (only the process recorded in DIR) and removes DIR
#   clickhouse-server.sh status [--tcp-port 19000] [--dir DIR]
#
# DIR defaults to /tmp/hallwatch-clickhouse-<tcp port>. As root the server runs
# as the `clickhouse` user the package creates (runuser); otherwise as the
# current user (the package must then already be installed).
set -euo pipefail

log() { printf '\033[1m[clickhouse]\033[0m %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cmd="${1:-}"
[ -n "$cmd" ] && shift || true
TCP_PORT=19000
HTTP_PORT=""
DIR=""
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tcp-port) TCP_PORT="$2"; shift 2 ;;
    --http-port) HTTP_PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown argument: $1" ;;
  esac
done
HTTP_PORT="${HTTP_PORT:-$((TCP_PORT - 19000 + 18123))}"
DIR="${DIR:-/tmp/hallwatch-clickhouse-$TCP_PORT}"
SERVER=/usr/sbin/clickhouse-server
URL="clickhouse://default@127.0.0.1:$TCP_PORT/default"

# A query over the HTTP port with bash alone (no curl or client needed): the body.
http_query() {
  local reply
  reply="$( (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" || exit 1
             printf 'GET /?query=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
             timeout 5 cat <&3) 2>/dev/null)" || return 1
  [[ "$reply" == *" 200 "* ]] || return 1
  printf '%s' "$reply" | tail -n 1 | tr -d '\r'
}

answers() { [ "$(http_query 'SELECT%201')" = 1 ]; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

server_pid() {
  local pid
  pid="$(cat "$DIR/server.pid" 2>/dev/null || true)"
  # Only a live clickhouse-server started with this folder's config counts.
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config-file=$DIR/config.xml"; then
    echo "$pid"
  fi
}

install_server() {
  [ "$(id -u)" = 0 ] || die "clickhouse-server is not installed and installing it needs root (apt-get install clickhouse-server)"
  log "installing Debian's clickhouse-server package"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null \
      || die "apt-get install clickhouse-server failed"
  fi
  [ -x "$SERVER" ] || die "clickhouse-server installed but $SERVER is missing"
}

write_config() {
  mkdir -p "$DIR"/{data,tmp,user_files,format_schemas,log}
  cat >"$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$DIR/log/server.log</log>
    <errorlog>$DIR/log/server.err.log</errorlog>
    <size>50M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$TCP_PORT</tcp_port>
  <http_port>$HTTP_PORT</http_port>
  <path>$DIR/data/</path>
  <tmp_path>$DIR/tmp/</tmp_path>
  <user_files_path>$DIR/user_files/</user_files_path>
  <format_schema_path>$DIR/format_schemas/</format_schema_path>
  <users_config>$DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
  cat >"$DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
}

start() {
  if [ -n "$(server_pid)" ] && answers; then
    log "already running on 127.0.0.1:$TCP_PORT ($DIR)"; echo "$URL"; return 0
  fi
  [ -x "$SERVER" ] || install_server
  port_busy "$TCP_PORT" && die "port $TCP_PORT is already in use"
  port_busy "$HTTP_PORT" && die "port $HTTP_PORT is already in use"
  rm -rf "$DIR"
  write_config
  local -a run=()
  if [ "$(id -u)" = 0 ] && id -u clickhouse >/dev/null 2>&1; then
    chown -R clickhouse:clickhouse "$DIR"
    run=(runuser -u clickhouse --)
  fi
  local t0=$EPOCHREALTIME
  # 18.16 spells it --pidfile; the server writes the file itself, so the pid
  # is the server's even when runuser stays around as its parent.
  (cd "$DIR" && exec setsid "${run[@]}" "$SERVER" --config-file="$DIR/config.xml" \
      --pidfile="$DIR/server.pid" </dev/null >"$DIR/log/stdout.log" 2>&1) &
  local i
  for i in $(seq 1 300); do
    if answers; then
      log "ClickHouse $(http_query 'SELECT%20version()') ready on 127.0.0.1:$TCP_PORT after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')s ($DIR)"
      echo "$URL"
      return 0
    fi
    if [ "$i" -gt 20 ] && ! kill -0 $! 2>/dev/null && [ -z "$(server_pid)" ]; then break; fi
    sleep 0.1
  done
  log "the server did not answer SELECT 1 on 127.0.0.1:$HTTP_PORT; its logs:"
  tail -n 30 "$DIR/log/stdout.log" "$DIR/log/server.err.log" >&2 2>/dev/null || true
  stop_server
  exit 1
}

stop_server() {
  local pid i
  pid="$(server_pid)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  [ -n "$KEEP" ] || rm -rf "$DIR"
}

case "$cmd" in
  start) start ;;
  stop) stop_server; log "stopped ($DIR)" ;;
  status)
    if [ -n "$(server_pid)" ] && answers; then echo "$URL"; else log "not running ($DIR)"; exit 1; fi ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
