# Sourced by the test scripts that can change this machine (ensure-mysql.sh,
# docker/ensure-engine.sh, docker/build-mysql-image.sh): the one rule for when they may, and
# how they do it. CONSENT_WHO is the prefix of their lines ("mysql", "docker", ...).

# the machine may be changed: CI, or a developer who said so
may_change_machine() { [ "${CI:-}" = true ] || [ "${DDBPROJ_INSTALL_SERVERS:-}" = 1 ]; }

step() {  # print a command, then run it
  echo "$CONSENT_WHO: running: $1"
  bash -c "$1"
}
