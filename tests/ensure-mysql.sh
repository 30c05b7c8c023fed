#!/usr/bin/env bash
# Make sure the integration tests have the server the pytest plugin will choose, by the plugin's
# own rule (python -m ddbproj.handlers.pytest_plugin --which): TEST_DATABASE_URL when set; else a
# testcontainers MySQL when a Docker engine answers (the local test image is built here when it
# is the one asked for, see tests/docker); else the local server on 127.0.0.1:3306.
#
# This script changes the machine only when asked to: installing mariadb-server (apt-get),
# starting it, and letting root in over TCP without a password happen only under CI=true or
# DDBPROJ_INSTALL_SERVERS=1, each command printed before it runs. Otherwise a missing or
# stopped server, or a root that may not log in, is reported with the commands that fix it,
# and the script exits 1.
#
#   --local   the local server, whatever the rule chooses (make test proves both paths)
#   PYTHON    the interpreter ddbproj is installed in (default: .venv/bin/python, else python3)
#   DDBPROJ_LOCAL_MYSQL_HOST, DDBPROJ_LOCAL_MYSQL_PORT   where the local server is looked for
#             and started (default 127.0.0.1 and 3306, where the tests look for it)
#   MYSQLD    the server program (default: /usr/sbin/mariadbd, else /usr/sbin/mysqld)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
INVOCATION="bash tests/ensure-mysql.sh${1:+ $1}"
HOST=${DDBPROJ_LOCAL_MYSQL_HOST:-127.0.0.1}
PORT=${DDBPROJ_LOCAL_MYSQL_PORT:-3306}
if ! [[ $PORT =~ ^[0-9]+$ ]] || ! [[ $HOST =~ ^[A-Za-z0-9.:-]+$ ]]; then
  echo "mysql: DDBPROJ_LOCAL_MYSQL_HOST/PORT must be a host name or address and a number" >&2
  exit 2
fi

if [ "${1:-}" != --local ]; then
  which=$("$PYTHON" -m ddbproj.handlers.pytest_plugin --which)
  kind=${which%% *}
  case "$kind" in
    url) echo "mysql: ${which#* }"; exit 0 ;;
    docker)
      image=${DDBPROJ_TEST_MYSQL_IMAGE:-}
      if [ "${image%%:*}" = ddbproj-test-mysql ]; then
        IMAGE=$image bash tests/docker/build-mysql-image.sh
      fi
      echo "mysql: ${which#* }"; exit 0 ;;
  esac
fi

CONSENT_WHO="mysql"
# shellcheck source=tests/consent.sh
source tests/consent.sh  # the working folder is the repository (cd above)

admin() {
  local tool
  for tool in mariadb-admin mysqladmin; do
    if command -v "$tool" >/dev/null 2>&1; then
      "$tool" --protocol=tcp -h "$HOST" -P "$PORT" --connect-timeout=3 -u root "$@"
      return
    fi
  done
  return 127
}

answers() {
  local status=0
  admin ping >/dev/null 2>&1 || status=$?
  if [ "$status" -eq 127 ]; then  # no client installed: a TCP connection must do
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  else
    return "$status"
  fi
}

# root over TCP with no password, as the tests connect (true when no client can tell)
root_gets_in() {
  local status=0
  admin status >/dev/null 2>&1 || status=$?
  [ "$status" -eq 0 ] || [ "$status" -eq 127 ]
}

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo "
DAEMON=${MYSQLD:-}
if [ -z "$DAEMON" ]; then
  DAEMON=/usr/sbin/mariadbd; [ -x "$DAEMON" ] || [ ! -x /usr/sbin/mysqld ] || DAEMON=/usr/sbin/mysqld
fi
# the commands, as printed and as run: each one line of shell
INSTALL=("${SUDO}apt-get update -qq"
         "${SUDO}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server")
START=("${SUDO}mkdir -p /run/mysqld"
       "${SUDO}chown mysql:mysql /run/mysqld"
       "${SUDO}start-stop-daemon --start --oknodo --background --exec $DAEMON -- --user=mysql --bind-address=$HOST --port=$PORT")
ROOT_OVER_TCP=("${SUDO}mariadb -u root -e \"ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket\"  # root over TCP without a password too (a fresh install lets it in by its socket only)")

refuse() {  # what is missing, and the commands that would fix it; exit 1
  local what=$1; shift
  {
    echo "mysql: $what. This script changes nothing on this machine unless asked to."
    echo "Run these yourself:"
    local command
    for command in "$@"; do echo "    $command"; done
    echo "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 $INVOCATION"
    echo "(CI=true does the same), or point the tests at a server of yours with"
    echo "TEST_DATABASE_URL=mysql+pymysql://user:password@host:3306/."
  } >&2
  exit 1
}

if ! answers; then
  if [ ! -x "$DAEMON" ]; then
    if ! may_change_machine; then
      refuse "no server answers on $HOST:$PORT and none is installed ($DAEMON is missing)" \
        "${INSTALL[@]}" "${START[@]}" "${ROOT_OVER_TCP[@]}"
    fi
    echo "mysql: no server installed; installing mariadb-server"
    for command in "${INSTALL[@]}"; do step "$command"; done
  fi
  if ! may_change_machine; then
    refuse "no server answers on $HOST:$PORT; $DAEMON is installed but not running" \
      "${START[@]}" "${ROOT_OVER_TCP[@]}"
  fi
  echo "mysql: starting $DAEMON on $HOST:$PORT"
  for command in "${START[@]}"; do step "$command"; done
  for _ in $(seq 1 60); do
    if answers; then break; fi
    sleep 1
  done
  if ! answers; then
    echo "mysql: the server did not start on $HOST:$PORT" >&2
    exit 1
  fi
fi

if ! root_gets_in; then
  if ! may_change_machine; then
    refuse "the server on $HOST:$PORT answers but refuses root over TCP without a password" \
      "${ROOT_OVER_TCP[@]}"
  fi
  echo "mysql: root may not log in over TCP without a password; allowing it"
  for command in "${ROOT_OVER_TCP[@]}"; do step "$command"; done
  if ! root_gets_in; then
    echo "mysql: the server on $HOST:$PORT still refuses root over TCP without a password" >&2
    exit 1
  fi
fi
echo "mysql: the local server $HOST:$PORT answers"
