#!/bin/bash
# Entrypoint of the ddbproj-test-mysql image: MariaDB behind the official mysql image's
# contract, so testcontainers' MySqlContainer drives it unchanged. It reads MYSQL_ROOT_PASSWORD,
# MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD, MYSQL_DATABASE, MYSQL_USER and
# MYSQL_PASSWORD, runs /docker-entrypoint-initdb.d/*.sql|*.sh on a fresh data directory, and
# listens on 0.0.0.0:3306.
#
# Like the official image it logs "ready for connections" twice on a fresh start: once for the
# socket-only server that initialises the data directory ("port: 0"), once for the real server.
# The second line is written only after a TCP login with the configured credentials succeeded;
# MySqlContainer waits for both lines. The server's own "ready for connections" lines are
# reworded so that nothing announces readiness early.
set -euo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
SERVER=/usr/sbin/mariadbd

note() { printf '%s 0 [Note] [Entrypoint]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" "$*"; }
fail() { printf '%s 0 [ERROR] [Entrypoint]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" "$*" >&2; exit 1; }
ready() {
  printf "%s 0 [System] [MY-010931] [Server] %s: ready for connections. Version: '%s'  socket: '%s'  port: %s  %s\n" \
    "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" "$SERVER" "$VERSION" "$SOCKET" "$1" "$2"
}
# the server's stderr, with its own readiness line reworded (see above)
server_log() { sed -u 's/ready for connections/listening for connections/'; }
sql_string() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }
sql_name() { printf '`%s`' "${1//\`/\`\`}"; }
client() { MYSQL_PWD="$ROOT_PASSWORD" mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"; }

case "${1:-mariadbd}" in
  -*) set -- mariadbd "$@" ;;
esac
if [ "${1:-mariadbd}" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi
[ $# -gt 0 ] && shift

VERSION=$("$SERVER" --version | sed -E 's/.*Ver ([^ ]+).*/\1/')
mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld "$DATADIR"

ROOT_PASSWORD=${MYSQL_ROOT_PASSWORD:-}
ROOT_HOST=${MYSQL_ROOT_HOST:-%}
if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] \
      && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    fail "Database is uninitialized and password option is not specified
    You need to specify one of the following as an environment variable:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
    note "GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
  fi
  note "Initializing database files"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
    --auth-root-authentication-method=normal --skip-name-resolve >/dev/null
  note "Starting temporary server"
  "$SERVER" --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" \
    --skip-name-resolve "$@" 2> >(server_log >&2) &
  pid=$!
  for _ in $(seq 1 300); do
    MYSQL_PWD='' mariadb --no-defaults --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "the temporary server stopped"
    sleep 0.1
  done
  ready 0 "(temporary server, initialisation only)"
  pw=$(sql_string "$ROOT_PASSWORD")
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # only root@localhost is kept (the install also creates root@127.0.0.1, root@::1 and
    # root@<hostname> without a password, which would shadow root@% for TCP logins)
    echo "DELETE FROM mysql.global_priv WHERE User NOT IN ('mariadb.sys', 'mysql', 'root') OR Host <> 'localhost';"
    echo "DELETE FROM mysql.proxies_priv WHERE Proxied_host <> 'localhost';"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
    if [ "$ROOT_HOST" != localhost ]; then
      echo "CREATE USER IF NOT EXISTS 'root'@$(sql_string "$ROOT_HOST") IDENTIFIED BY $pw;"
      echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$ROOT_HOST") WITH GRANT OPTION;"
    fi
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ "$MYSQL_USER" != root ]; then
      [ -n "${MYSQL_PASSWORD:-}" ] || fail "MYSQL_USER is set but MYSQL_PASSWORD is not"
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | MYSQL_PWD='' mariadb --no-defaults --socket="$SOCKET" -uroot
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh) note "running $f"; . "$f" ;;
      *.sql) note "running $f"; client ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} <"$f" ;;
      *.sql.gz) note "running $f"; gunzip -c "$f" | client ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} ;;
      *) note "ignoring $f" ;;
    esac
  done
  kill -TERM "$pid"
  wait "$pid" || true
  note "Temporary server stopped; database initialized"
fi

"$SERVER" --user=mysql --datadir="$DATADIR" --socket="$SOCKET" --bind-address=0.0.0.0 \
  --port=3306 --skip-name-resolve "$@" 2> >(server_log >&2) &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

# readiness: a TCP login as every configured account, not merely an open port
logins_work() {
  MYSQL_PWD="$ROOT_PASSWORD" mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot \
    -e 'SELECT 1' >/dev/null 2>&1 || return 1
  if [ -n "${MYSQL_USER:-}" ] && [ "$MYSQL_USER" != root ]; then
    MYSQL_PWD="$MYSQL_PASSWORD" mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P3306 \
      -u"$MYSQL_USER" -e 'SELECT 1' ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} >/dev/null 2>&1 || return 1
  fi
}
until logins_work; do
  kill -0 "$pid" 2>/dev/null || fail "the server stopped before it accepted connections"
  sleep 0.1
done
ready 3306 "MariaDB from Debian"

status=0
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || status=$?
done
exit "$status"
