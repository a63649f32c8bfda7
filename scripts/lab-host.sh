#!/usr/bin/env bash
# Prepare this machine to host the lab: a Docker engine that answers, and the
# lab's base image (Debian 12 + systemd), built locally once and then reused.
# Idempotent: every step checks first and does nothing when already done.
set -euo pipefail

IMAGE="${APIHA_BASE_IMAGE:-apiplatform-ha-base:bookworm}"
SUITE="${APIHA_SUITE:-bookworm}"
DOCKERD_LOG="${APIHA_DOCKERD_LOG:-/var/log/apiplatform-ha-dockerd.log}"

log() { printf '[lab-host] %s\n' "$*"; }
die() { printf '[lab-host] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_docker() {
  if command -v docker >/dev/null 2>&1 && docker_answers; then
    log "Docker engine answers"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if ! docker_answers; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    as_root sh -c "nohup dockerd >>'$DOCKERD_LOG' 2>&1 &"
    for _ in $(seq 1 60); do
      docker_answers && break
      sleep 1
    done
  fi
  docker_answers || die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
  log "Docker engine started"
}

ensure_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "base image $IMAGE exists; reusing it"
    return 0
  fi
  apt_install debootstrap
  local root
  root=$(mktemp -d /var/tmp/apiha-rootfs.XXXXXX)
  trap 'as_root rm -rf "$root"' RETURN
  log "building base image $IMAGE with debootstrap ($SUITE, minbase); takes about a minute"
  as_root debootstrap --variant=minbase \
    --include=python3,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates \
    "$SUITE" "$root" http://deb.debian.org/debian >/dev/null
  # Host keys and the machine id are per container, never baked into the image.
  as_root rm -f "$root"/etc/ssh/ssh_host_* "$root"/etc/machine-id
  as_root touch "$root"/etc/machine-id
  as_root tar -C "$root" --exclude='./var/cache/apt/archives/*.deb' -c . \
    | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$IMAGE" >/dev/null
  log "base image $IMAGE built"
}

case "${1:-all}" in
  docker) ensure_docker ;;
  image) ensure_docker; ensure_image ;;
  all) ensure_docker; ensure_image ;;
  *) die "usage: $0 [docker|image|all]" ;;
esac
