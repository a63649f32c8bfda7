"""Benchmark of the shared-FS sync against plain rsync, over the same ssh link (our own sshd on 127.0.0.1).

    python tests/bench/shared_fs_bench.py [--files 10000] [--mbytes 200] [--runs 3] [--rrsync dispatch|plain]

A tree of --files files (--mbytes in total) is copied to three destination trees behind one sshd whose key is forced
into rrsync (like the role's restricted account): one kept by apiplatform.ha.shared_fs_sync, one by `rsync -a`, one
by `rsync -a --checksum`. The forced command is the role's (--rrsync dispatch, the default: its dispatcher runs reads
as `rrsync -ro`, without the lock, writes as rrsync with it; shared_fs_sync runs with destination_unlocked_reads) or
plain rrsync for every session (--rrsync plain, as before the dispatcher). Then, timed (best and median of --runs for
the no-change case, each run of ours right after one of each rsync, so that all see the same load):

  - a run with nothing to do;
  - a run after 1% of the files changed content, half of them keeping their size and mtime (`touch -r`), which
    rsync's quick check (size + mtime) cannot see: the "caught" column counts the changed files that really reached
    the destination.

"ours" is the module's own code path (shared_fs_info write_manifest on the destination, then shared_fs_sync's run()
on the source), called in-process: the figures exclude ansible-playbook's start-up (several seconds per task here),
which is the same for every module. Everything lives in a temporary directory that is removed at the end. The load
average is printed before and after: compare figures of one run (ratios), not across loaded and idle machines.
"""

import argparse
import hashlib
import json
import os
import pathlib
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from sshd_harness import RRSYNC, Sshd, missing_tools  # noqa: E402

from ansible_collections.apiplatform.ha.plugins.module_utils import shared_fs  # noqa: E402
from ansible_collections.apiplatform.ha.plugins.modules import shared_fs_sync  # noqa: E402

LIMIT = 900  # seconds, per rsync call
DISPATCH = ROOT / "roles" / "shared_fs" / "files" / "rrsync-dispatch.sh"  # the role's forced command


class StubModule:
    """What shared_fs_sync.run() uses of AnsibleModule."""

    check_mode = False
    _diff = False

    def __init__(self, params):
        self.params = params
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def make_tree(root, files, total_bytes, rng):
    sizes = [rng.randint(1, 2 * total_bytes // files) for _i in range(files)]
    for i, size in enumerate(sizes):
        path = root / f"d{i % 100:02d}" / f"s{(i // 100) % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    return sum(sizes)


def change_files(root, count, rng):
    """Rewrite ``count`` files with new content of the same size; half of them get their old mtime back."""
    paths = sorted(p for p in root.rglob("*.bin"))
    picked = rng.sample(paths, count)
    for i, path in enumerate(picked):
        st = path.stat()
        path.write_bytes(rng.randbytes(st.st_size))
        if i % 2 == 0:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return [p.relative_to(root) for p in picked]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def caught(src, dst, rels):
    return sum(1 for rel in rels if (dst / rel).exists() and sha(src / rel) == sha(dst / rel))


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mbytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rrsync",
        choices=("dispatch", "plain"),
        default="dispatch",
        help="the destination's forced command: the role's dispatcher (default) or plain rrsync",
    )
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not found: install rsync, openssh-client and openssh-server")
    rng = random.Random(20260401)
    work = pathlib.Path(tempfile.mkdtemp(prefix="shared-fs-bench-"))
    try:
        return bench(work, args, rng)
    finally:
        shutil.rmtree(work, ignore_errors=True)


FORCED = {"dispatch": "the role's rrsync dispatcher", "plain": "plain rrsync"}


def bench(work, args, rng):
    load = os.getloadavg()
    src = work / "src"
    dest_root = work / "dest"
    ours, plain, checksum = dest_root / "ours", dest_root / "plain", dest_root / "checksum"
    for d in (src, ours, plain, checksum):
        d.mkdir(parents=True)
    print(f"building {args.files} files, ~{args.mbytes} MB ...", flush=True)
    total = make_tree(src, args.files, args.mbytes * 1024 * 1024, rng)

    with Sshd(work / "ssh", dest_root) as sshd:
        if args.rrsync == "dispatch":
            # The line the role writes: its dispatcher in front of rrsync (sshd reads the file at each login).
            line = sshd.authorized_keys.read_text()
            line = line.replace(f'command="{RRSYNC} ', f'command="/bin/sh {DISPATCH} {RRSYNC} ')
            sshd.authorized_keys.write_text(line)
        rsh = shlex.join(sshd.ssh_command())
        target = f"{sshd.user}@127.0.0.1"

        def rsync(*extra, dest):
            cmd = ["rsync", "-a", "-e", rsh, *extra, f"{src}/", f"{target}:{dest}/"]
            subprocess.run(cmd, check=True, timeout=LIMIT, stdout=subprocess.DEVNULL)

        params = {
            "path": str(src),
            "site": "dc1",
            "mount_required": False,
            "destination_site": "dc2",
            "delete": False,
            "conflict_policy": "report",
            "paths": [],
            "destination_manifest_max_age": 900,
            "destination_path": "ours",
            "destination_unlocked_reads": args.rrsync == "dispatch",
        }

        def ours_sync():
            shared_fs.refresh_manifest(str(ours), "dc2")  # what shared_fs_info write_manifest does on the destination
            module = StubModule(params)
            remote = shared_fs.RsyncRemote(
                "127.0.0.1",
                sshd.user,
                str(sshd.client_key),
                port=sshd.port,
                known_hosts=str(sshd.known_hosts),
                remote_path="ours",
            )
            resource = shared_fs_sync.SyncResource(module, str(src), remote)
            try:
                result = shared_fs_sync.run(module, resource, str(src), [])
            finally:
                resource.close()
            assert not result["conflicts"], result["conflicts"][:3]
            return result

        rows = []
        first = {
            "ours": timed(ours_sync),
            "rsync -a": timed(lambda: rsync(dest="plain")),
            "rsync -a --checksum": timed(lambda: rsync("--checksum", dest="checksum")),
        }
        rows.append(("first sync (full copy)", first, None))

        noop = {k: [] for k in first}
        started = time.time()
        for _run in range(args.runs):
            noop["rsync -a"].append(timed(lambda: rsync(dest="plain")))
            noop["ours"].append(timed(ours_sync))
            noop["rsync -a --checksum"].append(timed(lambda: rsync("--checksum", dest="checksum")))
        rows.append((f"no change (best of {args.runs})", {k: min(v) for k, v in noop.items()}, None))
        rows.append((f"no change (median of {args.runs})", {k: statistics.median(v) for k, v in noop.items()}, None))
        # A run with nothing to move still records the sync on both sides.
        for tree, peer in ((src, "dc2"), (ours, "dc1")):
            record = json.loads((tree / ".shared-fs" / "peers" / f"{peer}.json").read_text())
            assert record["time"] >= started and record["summary"]["added"] == 0, (tree, record["time"], started)

        count = max(1, args.files // 100)
        changed = change_files(src, count, rng)
        one = {"ours": timed(ours_sync)}
        one["rsync -a"] = timed(lambda: rsync(dest="plain"))
        one["rsync -a --checksum"] = timed(lambda: rsync("--checksum", dest="checksum"))
        hits = {
            "ours": caught(src, ours, changed),
            "rsync -a": caught(src, plain, changed),
            "rsync -a --checksum": caught(src, checksum, changed),
        }
        rows.append((f"{count} files changed (1%)", one, hits))

    print()
    print(f"tree: {args.files} files, {total / 1e6:.0f} MB; ssh to 127.0.0.1 through {FORCED[args.rrsync]}; seconds")
    print(f"load average (1 min) before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs")
    header = f"{'case':<28}{'ours':>10}{'rsync -a':>12}{'--checksum':>12}{'ours/rsync -a':>15}  caught (of changed)"
    print(header)
    print("-" * len(header))
    for name, times, hits in rows:
        ratio = times["ours"] / times["rsync -a"] if times["rsync -a"] else float("nan")
        line = f"{name:<28}{times['ours']:>10.2f}{times['rsync -a']:>12.2f}{times['rsync -a --checksum']:>12.2f}"
        line += f"{ratio:>14.2f}x"
        if hits:
            line += f"  ours {hits['ours']}/{count}, rsync -a {hits['rsync -a']}/{count}, "
            line += f"--checksum {hits['rsync -a --checksum']}/{count}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
