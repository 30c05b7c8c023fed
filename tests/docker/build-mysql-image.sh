#!/usr/bin/env bash
# Build the MySQL-compatible test image (default ddbproj-test-mysql:latest) without a registry:
# a debootstrap'ed Debian bookworm with mariadb-server from the Debian mirror apt already uses,
# imported with `docker import`, behind an entrypoint that follows the official mysql image's
# environment contract (mysql-entrypoint.sh). Skipped when the image exists and was built from
# this very recipe (the label org.ddbproj.recipe holds a hash of this script and the entrypoint).
#
# debootstrap is installed (apt-get) only under CI=true or DDBPROJ_INSTALL_SERVERS=1, the
# commands printed first; otherwise a missing debootstrap is reported with the command to run.
#
#   IMAGE   the image to build (default: $DDBPROJ_TEST_MYSQL_IMAGE, else ddbproj-test-mysql:latest)
#   DEBIAN_MIRROR   the mirror (default: the first Debian mirror in /etc/apt/sources.list*)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IMAGE=${IMAGE:-${DDBPROJ_TEST_MYSQL_IMAGE:-ddbproj-test-mysql:latest}}
SUITE=bookworm
CONSENT_WHO="mysql image"
# shellcheck source=tests/consent.sh
source "$here/../consent.sh"

if ! docker version >/dev/null 2>&1; then
  echo "mysql image: no Docker engine answers to build $IMAGE with (tests/docker/ensure-engine.sh)" >&2
  exit 1
fi

recipe=$(cat "$here/build-mysql-image.sh" "$here/mysql-entrypoint.sh" | sha256sum | cut -c1-16)
built=$(docker image inspect --format '{{ index .Config.Labels "org.ddbproj.recipe" }}' "$IMAGE" \
  2>/dev/null || true)
previous=$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
if [ "$built" = "$recipe" ]; then
  echo "mysql image: $IMAGE is present"; exit 0
fi

mirror() {
  # deb822 "URIs:" lines and one-line "deb URL suite" entries; the first plain Debian archive wins
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -r "$f" ]; then cat "$f"; fi
  done | sed -nE 's#^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
    | head -n1 || true
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(mirror)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v debootstrap >/dev/null 2>&1; then
  install=("${SUDO:+$SUDO }apt-get update -qq"
           "${SUDO:+$SUDO }env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap")
  if ! may_change_machine; then
    {
      echo "mysql image: building $IMAGE needs debootstrap, which is not installed. This script"
      echo "changes nothing on this machine unless asked to. Run these yourself:"
      printf '    %s\n' "${install[@]}"
      echo "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 bash tests/docker/build-mysql-image.sh"
      echo "(CI=true does the same)."
    } >&2
    exit 1
  fi
  echo "mysql image: installing debootstrap"
  for command in "${install[@]}"; do step "$command"; done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ddbproj-mysql-image.XXXXXX")
rootfs="$work/rootfs"
cleanup() {
  $SUDO umount "$rootfs/proc" 2>/dev/null || true
  $SUDO rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
echo "mysql image: building $IMAGE from $DEBIAN_MIRROR ($SUITE, mariadb-server)"
$SUDO debootstrap --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# no service may start inside the build root: it shares this machine's network
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rootfs/usr/sbin/policy-rc.d" >/dev/null
$SUDO chmod +x "$rootfs/usr/sbin/policy-rc.d"
$SUDO mount -t proc proc "$rootfs/proc"
$SUDO chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client" \
  >"$work/apt.log" 2>&1 \
  || { tail -n 30 "$work/apt.log" >&2; exit 1; }
$SUDO umount "$rootfs/proc"
# a container initialises its own data directory from its environment, as the official image does
$SUDO rm -rf "$rootfs"/var/lib/mysql/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
  "$rootfs"/usr/share/locale/*
$SUDO install -m 0755 "$here/mysql-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
$SUDO mkdir -p "$rootfs/docker-entrypoint-initdb.d"

$SUDO tar -C "$rootfs" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  --change 'CMD ["mariadbd"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'EXPOSE 3306' \
  --change 'VOLUME /var/lib/mysql' \
  --change "LABEL org.ddbproj.recipe=$recipe" \
  --message "ddbproj test MySQL (MariaDB from Debian $SUITE)" \
  - "$IMAGE" >/dev/null
# the image of an older recipe, unless a container still uses it
if [ -n "$previous" ]; then docker image rm "$previous" >/dev/null 2>&1 || true; fi
echo "mysql image: built $IMAGE in $(( $(date +%s) - start )) s"
