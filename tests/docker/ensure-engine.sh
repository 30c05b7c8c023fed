#!/usr/bin/env bash
# Make a Docker engine answer for the testcontainers path, asked as the pytest plugin asks
# (python -m ddbproj.handlers.pytest_plugin --docker: DOCKER_HOST, else the default socket).
#
# This script changes the machine only when asked to: starting dockerd in the background (as
# root, else through `sudo -n`) and, with --install, installing Debian's docker.io first happen
# only under CI=true or DDBPROJ_INSTALL_SERVERS=1, each command printed before it runs.
# Otherwise, when no engine answers, it says what is missing and the commands that fix it.
# Exits 1 when no engine answers in the end, so that `make test` can go on with the local
# server; CI treats that as a failure.
#
#   --install    install docker.io first when dockerd is absent (with the consent above; CI)
#   PYTHON       the interpreter ddbproj is installed in (default: .venv/bin/python, else python3)
#   DOCKERD      the engine program (default: dockerd on PATH)
#   DOCKERD_LOG  where a dockerd started here writes (default: /var/log/ddbproj-dockerd.log)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
INSTALL=false; [ "${1:-}" = --install ] && INSTALL=true
INVOCATION="bash tests/docker/ensure-engine.sh${1:+ $1}"
answers() { "$PYTHON" -m ddbproj.handlers.pytest_plugin --docker; }
CONSENT_WHO="docker"
# shellcheck source=tests/consent.sh
source tests/consent.sh  # the working folder is the repository (cd above)

if answers; then echo "docker: the engine answers"; exit 0; fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "docker: DOCKER_HOST=$DOCKER_HOST does not answer; no local engine is started for it" >&2
  exit 1
fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo "
DAEMON=${DOCKERD:-$(command -v dockerd || true)}
installed() { [ -n "$DAEMON" ] && [ -x "$DAEMON" ]; }
log=${DOCKERD_LOG:-/var/log/ddbproj-dockerd.log}
if ! [[ $log =~ ^[A-Za-z0-9_./-]+$ ]] || ! [[ $DAEMON =~ ^[A-Za-z0-9_./-]*$ ]]; then
  echo "docker: DOCKERD and DOCKERD_LOG must be plain paths (letters, digits, _ . / -)" >&2
  exit 2
fi
# the commands, as printed and as run: each one line of shell
INSTALL_COMMANDS=("${SUDO}apt-get update -qq"
                  "${SUDO}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io")
START_COMMANDS=("${SUDO}sh -c 'nohup ${DAEMON:-dockerd} >>$log 2>&1 </dev/null &'")

refuse() {  # what is missing, and the commands that would fix it; exit 1
  local what=$1; shift
  {
    echo "docker: $what. This script changes nothing on this machine unless asked to."
    echo "Without an engine the tests use the local MySQL server instead. To use Docker, run:"
    local command
    for command in "$@"; do echo "    $command"; done
    echo "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 $INVOCATION"
    echo "(CI=true does the same)."
  } >&2
  exit 1
}

if ! installed; then
  if ! may_change_machine || ! $INSTALL; then
    INVOCATION="bash tests/docker/ensure-engine.sh --install"
    refuse "no engine answers and dockerd is not installed" \
      "${INSTALL_COMMANDS[@]}" "${START_COMMANDS[@]}"
  fi
elif ! may_change_machine; then
  refuse "no engine answers; $DAEMON is installed but not running" "${START_COMMANDS[@]}"
fi
if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
  echo "docker: no engine answers and starting one needs root, but sudo asks for a password;" \
    "run the commands yourself: ${INSTALL_COMMANDS[*]}; ${START_COMMANDS[*]}" >&2
  exit 1
fi

if ! installed; then
  echo "docker: dockerd is not installed; installing docker.io"
  for command in "${INSTALL_COMMANDS[@]}"; do step "$command"; done
  DAEMON=$(command -v dockerd)
  START_COMMANDS=("${SUDO}sh -c 'nohup $DAEMON >>$log 2>&1 </dev/null &'")
fi
echo "docker: starting dockerd (log: $log)"
for command in "${START_COMMANDS[@]}"; do step "$command"; done
for _ in $(seq 1 60); do
  if answers; then echo "docker: the engine answers"; exit 0; fi
  sleep 1
done
echo "docker: dockerd did not answer within 60 s; the end of $log:" >&2
${SUDO}tail -n 20 "$log" >&2 || true
exit 1
