#!/usr/bin/env bash
# Build the apiplatform.ha tarball from a clean copy of the checkout, install it offline into a
# scratch collections path and check that `ansible-doc` renders every module from that install.
#
# Usage: scripts/build-collection.sh      (make build)
# Output: .build/dist/apiplatform-ha-<version>.tar.gz (outside git)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
venv="${APIHA_VENV:-$here/.venv}"
deps_path="${APIHA_COLLECTIONS_PATH:-$here/.collections}"
src="$here/.build/build-src/ansible_collections/apiplatform/ha"
dist="$here/.build/dist"
export PATH="$venv/bin:$PATH"
[ -x "$venv/bin/ansible-galaxy" ] || { echo "[build] $venv/bin/ansible-galaxy missing: run 'make venv'" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/apiha-build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# --- 1. clean copy: tracked + untracked-but-not-ignored files, minus files deleted from the tree
list="$scratch/files"
git -C "$here" -c core.quotepath=off ls-files -co --exclude-standard \
  | grep -Ev '^(\.venv|\.collections|\.cache|\.build|\.git|tests/output)(/|$)' \
  | while IFS= read -r f; do [ -e "$here/$f" ] || [ -L "$here/$f" ] && printf '%s\n' "$f"; done \
  | sort -u > "$list"
rm -rf "$src"
mkdir -p "$src" "$dist"
# tar, not rsync: this runs before the lab host packages (rsync among them) are installed.
tar -C "$here" --no-recursion -cf - -T "$list" | tar -C "$src" -xf -

# --- 2. build ----------------------------------------------------------------------------------
readme=$("$venv/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("readme") or "")' "$src/galaxy.yml")
if [ -n "$readme" ] && [ ! -f "$src/$readme" ]; then
  echo "[build] galaxy.yml names readme '$readme' but it is not in the checkout (tracked or untracked-not-ignored): the tarball ships without it" >&2
fi
build_log="$scratch/build.log"
if ! ansible-galaxy collection build "$src" --output-path "$dist" --force >"$build_log" 2>&1; then
  cat "$build_log" >&2
  echo "[build] FAILED: ansible-galaxy collection build" >&2
  exit 1
fi
cat "$build_log"
tarball=$(sed -n 's/^Created collection for .* at //p' "$build_log" | tail -n1)
[ -f "$tarball" ] || { echo "[build] cannot find the built tarball in the build output" >&2; exit 1; }

# --- 3. offline install into a scratch collections path ---------------------------------------
install_path="$scratch/collections"
ansible-galaxy collection install --offline --no-deps --force "$tarball" -p "$install_path" 2>&1 \
  | grep -v 'is not part of the configured Ansible collections paths' || true
installed="$install_path/ansible_collections/apiplatform/ha"
[ -f "$installed/MANIFEST.json" ] || { echo "[build] FAILED: offline install did not produce $installed" >&2; exit 1; }

# --- 4. ansible-doc for every module, resolved from the scratch install -----------------------
# The scratch install comes first; .collections supplies the dependencies (its apiplatform/ha is a
# link to the checkout, so each doc's filename is checked to come from the install). No
# ansible.cfg is read (ANSIBLE_CONFIG points at an empty file) and the run is from $scratch.
: > "$scratch/ansible.cfg"
export ANSIBLE_CONFIG="$scratch/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$install_path:$deps_path"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR=1
cd "$scratch"

mapfile -t modules < <(find "$src/plugins/modules" -maxdepth 1 -type f -name '*.py' ! -name '__init__.py' \
  -printf '%f\n' 2>/dev/null | sed 's/\.py$//' | sort)
failed=()
for m in "${modules[@]}"; do
  fqcn="apiplatform.ha.$m"
  if ! ansible-doc -t module "$fqcn" >"$scratch/doc.txt" 2>"$scratch/doc.err" \
    || grep -qE '\[ERROR\]|\[WARNING\]: .*(not found|[Ee]rror)' "$scratch/doc.err"; then
    echo "[build] ansible-doc FAILED for $fqcn:" >&2
    cat "$scratch/doc.err" >&2
    failed+=("$m")
    continue
  fi
  if ! ansible-doc -t module --json "$fqcn" 2>/dev/null | "$venv/bin/python" -c '
import json, os, sys
fqcn, root = sys.argv[1], os.path.realpath(sys.argv[2])
data = json.load(sys.stdin).get(fqcn) or {}
doc = data.get("doc") or {}
fn = os.path.realpath(doc.get("filename") or "")
if not doc.get("short_description"):
    sys.exit(f"{fqcn}: no documentation")
if not fn.startswith(root + os.sep):
    sys.exit(f"{fqcn}: documented from {fn}, not from the scratch install under {root}")
' "$fqcn" "$install_path"; then
    failed+=("$m")
  fi
done

size_bytes=$(stat -c %s "$tarball")
size_human=$(du -h "$tarball" | cut -f1)
files_in_tarball=$(tar -tzf "$tarball" | grep -cv '/$')
echo
echo "[build] tarball: $tarball ($size_human, $size_bytes bytes, $files_in_tarball files)"
echo "[build] installed offline into a scratch path; modules checked with ansible-doc: $(( ${#modules[@]} - ${#failed[@]} ))/${#modules[@]} ok${modules[*]:+ (${modules[*]})}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "[build] FAILED modules: ${failed[*]}" >&2
  exit 1
fi
