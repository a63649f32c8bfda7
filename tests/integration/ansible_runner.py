"""Run the project's playbooks with the real ansible-playbook, as an operator would."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run_playbook(playbook, inventory, *extra, timeout=300, env=None):
    """Run a playbook of playbooks/ (or a path) and return the CompletedProcess (stdout and stderr merged)."""
    path = ROOT / "playbooks" / playbook if not os.path.isabs(str(playbook)) else playbook
    full_env = dict(os.environ)
    full_env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    full_env.update(env or {})
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(path), *extra]
    return subprocess.run(
        cmd,
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
