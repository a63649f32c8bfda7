#!/usr/bin/env bash
# Galaxy is not reachable: take the community collections this project uses from the
# `ansible` wheel on PyPI and extract only those. Nothing extracted is committed.
# Also links this checkout as apiplatform.ha so that FQCNs resolve from the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/.collections/ansible_collections"
cache="$here/.cache/wheels"
ansible_version="${APIHA_ANSIBLE_WHEEL_VERSION:-12.3.0}"
pip="${PIP:-$here/.venv/bin/pip}"
# Runtime dependencies (galaxy.yml) plus what molecule's docker driver needs.
collections=(
  ansible/posix
  community/postgresql
  community/rabbitmq
  community/mongodb
  community/general
  community/docker
  community/library_inventory_filtering_v1
)
stamp="$dest/.extracted-$ansible_version-$(printf '%s\n' "${collections[@]}" | md5sum | cut -c1-8)"
if [ -f "$stamp" ]; then
  echo "[collections] up to date ($ansible_version)"
else
  mkdir -p "$cache" "$dest"
  wheel=$(ls "$cache"/ansible-"$ansible_version"-py3-none-any.whl 2>/dev/null || true)
  if [ -z "$wheel" ]; then
    echo "[collections] downloading the ansible $ansible_version wheel (collections only are extracted)"
    "$pip" download --quiet --no-deps --dest "$cache" "ansible==$ansible_version"
    wheel="$cache/ansible-$ansible_version-py3-none-any.whl"
  fi
  for c in "${collections[@]}"; do
    rm -rf "${dest:?}/$c"
  done
  patterns=()
  for c in "${collections[@]}"; do patterns+=("ansible_collections/$c/*"); done
  python3 - "$wheel" "$dest/.." "${patterns[@]}" <<'PY'
import fnmatch, sys, zipfile
wheel, out, pats = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in pats)]
    z.extractall(out, names)
print(f"[collections] extracted {len(names)} files")
PY
  rm -f "$dest"/.extracted-*
  touch "$stamp"
fi
mkdir -p "$dest/apiplatform"
ln -sfn ../../.. "$dest/apiplatform/ha"
