#!/usr/bin/env bash
# Lint, type-check and run every test against the real services (SQLite, PostgreSQL).
# Starts what it needs: PostgreSQL is used at 127.0.0.1:5432 when it accepts the
# postgres user without a password; otherwise a private throw-away cluster is
# created and started (installing Debian's postgresql package if needed).
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
trap cleanup EXIT

pg_ok() { .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$1" 2>/dev/null; }

if [ -z "${HALLWATCH_TEST_POSTGRES:-}" ]; then
  SHARED="postgresql://postgres@127.0.0.1:5432/postgres"
  if [ -z "${HALLWATCH_PRIVATE_PG:-}" ] && pg_ok "$SHARED"; then
    export HALLWATCH_TEST_POSTGRES="$SHARED"
  else
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      log "installing PostgreSQL"; apt_install postgresql
    fi
    PG_BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
    PG_DIR="$(mktemp -d /tmp/hallwatch-pg.XXXXXX)"
    chown postgres "$PG_DIR"
    PORT="${HALLWATCH_PRIVATE_PG_PORT:-55432}"
    log "starting a private PostgreSQL on 127.0.0.1:$PORT"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
      -o "-p $PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    export HALLWATCH_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$PORT/postgres"
  fi
fi
log "PostgreSQL for tests: $HALLWATCH_TEST_POSTGRES"

# The dashboard's browser tests drive Debian's chromium (never a downloaded browser) and
# need a CJK font so Chinese renders.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi"; then
  log "installing chromium and fonts-wqy-microhei"; apt_install chromium fonts-wqy-microhei
fi

log "ruff"; ruff check .
log "import layers"; lint-imports
log "mypy"; mypy
# Two workers (HALLWATCH_TEST_WORKERS), a test file kept on one worker: most of the
# integration tests wait on brokers and processes, so two run in about half the time.
WORKERS="${HALLWATCH_TEST_WORKERS:-2}"
log "pytest ($WORKERS workers)"
set +e
python -m pytest -p no:cacheprovider -n "$WORKERS" --dist loadfile "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
  log "pytest collected no tests: that is a failure"; exit 1
fi
exit "$code"
