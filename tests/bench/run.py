"""make bench: measure the lab and print the figures as a table.

Rows so far (later tiers add theirs):
  - first converge of site.yml on a freshly created lab (molecule converge; containers already created)
  - a no-change rerun, and its share of the first converge
  - the lab's memory use after converge (sum over the lab's containers, from docker stats)

The lab is destroyed first and at the end, so the figures are from a clean start. Bounded: each step has a
time limit and the whole run stops at the first failure.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
ENV = dict(
    os.environ,
    PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    ANSIBLE_FORCE_COLOR="0",
    PY_COLORS="0",
)
STEP_LIMIT = 1800


def run(*cmd, limit=STEP_LIMIT):
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=limit, check=False
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        raise SystemExit(f"bench: {' '.join(cmd)} failed with exit code {proc.returncode}")
    return elapsed, proc.stdout


def lab_memory_bytes():
    names = subprocess.run(
        ["docker", "ps", "--filter", "label=apiplatform.ha/lab=true", "--format", "{{.Names}}"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.split()
    if not names:
        return 0, 0
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{json .}}", *names],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    total = 0
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
    for line in out.splitlines():
        used = json.loads(line)["MemUsage"].split("/")[0].strip()
        for unit in sorted(units, key=len, reverse=True):
            if used.endswith(unit):
                total += float(used[: -len(unit)]) * units[unit]
                break
    return total, len(names)


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main():
    print("bench: destroying any previous lab, then creating a fresh one", flush=True)
    run("molecule", "destroy", "-s", "default")
    run("molecule", "create", "-s", "default")
    try:
        print("bench: first converge of site.yml (installs every package; several minutes)", flush=True)
        first, _first_output = run("molecule", "converge", "-s", "default")
        print("bench: no-change rerun of site.yml", flush=True)
        second, out = run("molecule", "converge", "-s", "default")
        changed = sum(int(x.split("=")[1]) for x in out.split() if x.startswith("changed="))
        mem, count = lab_memory_bytes()
    finally:
        run("molecule", "destroy", "-s", "default")
    rows = [
        ("measure", "value", "goal"),
        ("first converge of site.yml (s)", f"{first:.1f}", "-"),
        ("no-change rerun (s)", f"{second:.1f}", "-"),
        ("rerun share of first converge", f"{100 * second / first:.0f} %", "<= 35 %"),
        ("tasks changed in the rerun", str(changed), "0"),
        (f"lab memory after converge ({count} containers)", f"{mem / 1024**2:.0f} MiB", "whole platform <= 8 GiB"),
    ]
    print()
    print("Foundation (etcd, common) on the 3-site lab, 2 cores; times include molecule's own start-up")
    print(table(rows))


if __name__ == "__main__":
    main()
