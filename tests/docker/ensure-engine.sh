#!/usr/bin/env bash
# Make a Docker engine answer for the testcontainers path, asked as the pytest plugin asks
# (python -m ddbproj.handlers.pytest_plugin --docker: DOCKER_HOST, else the default socket). When none
# answers and DOCKER_HOST is unset, start dockerd in the background (as root, else through
# `sudo -n`) and wait for its socket. Exits 1 when no engine can be made to answer, so that
# `make test` can go on with the local server; CI treats that as a failure.
#
#   --install    install Debian's docker.io first when dockerd is absent (CI)
#   PYTHON       the interpreter ddbproj is installed in (default: .venv/bin/python, else python3)
#   DOCKERD_LOG  where a dockerd started here writes (default: /var/log/ddbproj-dockerd.log)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
answers() { "$PYTHON" -m ddbproj.handlers.pytest_plugin --docker; }

if answers; then echo "docker: the engine answers"; exit 0; fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "docker: DOCKER_HOST=$DOCKER_HOST does not answer; no local engine is started for it" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "docker: no engine answers and starting one needs root; start Docker yourself" >&2
    exit 1
  fi
  SUDO="sudo -n"
fi
if ! command -v dockerd >/dev/null 2>&1; then
  if [ "${1:-}" != --install ]; then
    echo "docker: no engine answers and dockerd is not installed (Debian: apt-get install docker.io)" >&2
    exit 1
  fi
  echo "docker: installing docker.io"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi

log=${DOCKERD_LOG:-/var/log/ddbproj-dockerd.log}
echo "docker: starting dockerd (log: $log)"
$SUDO sh -c "nohup dockerd >>'$log' 2>&1 </dev/null &"
for _ in $(seq 1 60); do
  if answers; then echo "docker: the engine answers"; exit 0; fi
  sleep 1
done
echo "docker: dockerd did not answer within 60 s; the end of $log:" >&2
$SUDO tail -n 20 "$log" >&2 || true
exit 1
