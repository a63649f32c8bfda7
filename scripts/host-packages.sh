#!/usr/bin/env bash
# Debian packages the controller needs for the integration tests (real servers on loopback).
# Services are installed, never started by the package: the tests start their own instances.
set -euo pipefail
pkgs=(etcd-server etcd-client rsync openssh-client openssh-server postgresql-15 postgresql-client-15 python3-venv rabbitmq-server)
missing=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && { echo "[host-packages] present: ${pkgs[*]}"; exit 0; }
echo "[host-packages] installing ${missing[*]}"
apt-get update -qq
# policy-rc.d stops the packages from starting their services on this machine.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
