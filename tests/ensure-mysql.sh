#!/usr/bin/env bash
# Make sure the integration tests have the server the pytest plugin will choose, by the plugin's
# own rule (python -m ddbproj.handlers.pytest_plugin --which): TEST_DATABASE_URL when set; else a
# testcontainers MySQL when a Docker engine answers (the local test image is built here when it
# is the one asked for, see tests/docker); else the local server on 127.0.0.1:3306, started here
# when it is installed but down, installed when absent.
#
#   --local   the local server, whatever the rule chooses (make test proves both paths)
#   PYTHON    the interpreter ddbproj is installed in (default: .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

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

answers() {
  if command -v mysqladmin >/dev/null 2>&1; then
    mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1
  elif command -v mariadb-admin >/dev/null 2>&1; then
    mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1
  else
    (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null
  fi
}

if answers; then echo "mysql: the local server 127.0.0.1:3306 answers"; exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  echo "mysql: no server installed; installing mariadb-server"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server >/dev/null
fi
$SUDO mkdir -p /run/mysqld
$SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
daemon=/usr/sbin/mariadbd; [ -x "$daemon" ] || daemon=/usr/sbin/mysqld
echo "mysql: starting $daemon"
$SUDO start-stop-daemon --start --oknodo --background --exec "$daemon" -- --user=mysql \
  --bind-address=127.0.0.1 --port=3306
for _ in $(seq 1 60); do
  if answers; then
    # a fresh install lets root in by socket only: allow the empty password over TCP too
    $SUDO mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" 2>/dev/null || true
    echo "mysql: the local server 127.0.0.1:3306 answers"; exit 0
  fi
  sleep 1
done
echo "mysql: the server did not start on 127.0.0.1:3306" >&2
exit 1
