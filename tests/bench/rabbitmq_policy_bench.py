"""Benchmark: converging an already-right queue HA policy, apiplatform.ha.rabbitmq_ha_policy (management HTTP API) vs
community.rabbitmq.rabbitmq_policy (rabbitmqctl, its default; and its HTTP API mode as a third column).

    python tests/bench/rabbitmq_policy_bench.py [--runs 7] [--nodes 3] [--no-playbook]

A real RabbitMQ 3.10.8 cluster on 127.0.0.1 comes from the integration harness (tests/integration/rabbitmq_cluster.py)
and is torn down at the end. rabbitmqctl runs on the node host: on loopback the community module is pointed at the
harness node with its ``node`` option and the harness's cookie and epmd port (HOME, ERL_EPMD_PORT).

Each implementation first creates its own policy (same pattern, apply-to, priority and definition), then converges it
--runs times with nothing to change (every run must report changed=false). Two ways of running, each timed:

  - module process: the module run as Ansible runs it on a host (one Python process with its arguments file), without
    ansible-playbook's own start-up;
  - ansible-playbook: one play with the one task, as an operator runs it (the start-up is the same for everyone).

Output: a table with median, min and max seconds and each median's ratio to ours. Goal: ours <= 1/5 of
community.rabbitmq.rabbitmq_policy with rabbitmqctl.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from ansible_runner import run_playbook  # noqa: E402
from rabbitmq_cluster import ADMIN_PASSWORD, ADMIN_USER, RABBITMQ_BIN, rabbitmq_cluster, require_rabbitmq  # noqa: E402

DEFINITION = {"delivery-limit": 20, "max-length": 100000, "overflow": "reject-publish"}
PATTERN = "^bench\\."
LIMIT = 120  # seconds, per run


def community_collections(work):
    """A collections path holding community.rabbitmq: .collections when `make collections` extracted it, else
    extracted here from the cached ansible wheel (scripts/collections.sh downloads it)."""
    if (ROOT / ".collections" / "ansible_collections" / "community" / "rabbitmq").is_dir():
        return ROOT / ".collections"
    wheels = sorted((ROOT / ".cache" / "wheels").glob("ansible-*-py3-none-any.whl"))
    if not wheels:
        raise SystemExit("bench: community.rabbitmq not found: run `make collections` (it fetches the ansible wheel)")
    dest = work / "collections"
    with zipfile.ZipFile(wheels[-1]) as z:
        z.extractall(dest, [n for n in z.namelist() if n.startswith("ansible_collections/community/rabbitmq/")])
    (dest / "ansible_collections" / "apiplatform").mkdir(parents=True, exist_ok=True)
    (dest / "ansible_collections" / "apiplatform" / "ha").symlink_to(ROOT)
    return dest


def implementations(cluster):
    """(label, FQCN, module args, extra environment) of each contender."""
    cli_env = cluster.cli_env()
    cli_env["PATH"] = f"{RABBITMQ_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"  # the real rabbitmqctl, no wrapper
    port = cluster.nodes[0].mgmt_port
    return [
        (
            "ours: rabbitmq_ha_policy (HTTP API)",
            "apiplatform.ha.rabbitmq_ha_policy",
            {
                "api_url": cluster.api_url(0),
                "api_user": ADMIN_USER,
                "api_password": ADMIN_PASSWORD,
                "name": "bench-ours",
                "pattern": PATTERN,
                "delivery_limit": DEFINITION["delivery-limit"],
                "definition": {k: v for k, v in DEFINITION.items() if k != "delivery-limit"},
            },
            {},
        ),
        (
            "community.rabbitmq.rabbitmq_policy (rabbitmqctl)",
            "community.rabbitmq.rabbitmq_policy",
            {
                "name": "bench-community-cli",
                "pattern": PATTERN,
                "apply_to": "queues",
                "tags": DEFINITION,
                "node": cluster.node_name(0),
            },
            cli_env,
        ),
        (
            "community.rabbitmq.rabbitmq_policy (HTTP API)",
            "community.rabbitmq.rabbitmq_policy",
            {
                "name": "bench-community-api",
                "pattern": PATTERN,
                "apply_to": "queues",
                "tags": DEFINITION,
                "login_host": "127.0.0.1",
                "login_port": str(port),
                "login_user": ADMIN_USER,
                "login_password": ADMIN_PASSWORD,
            },
            {},
        ),
    ]


def module_path(collections, fqcn):
    namespace, name, module = fqcn.split(".")
    return collections / "ansible_collections" / namespace / name / "plugins" / "modules" / f"{module}.py"


def run_module_process(collections, fqcn, args, env, work):
    """One module run as Ansible runs it on a host: a Python process with its arguments file; returns (s, result)."""
    args_file = work / f"args-{time.monotonic_ns()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False)}))
    full_env = dict(os.environ, PYTHONPATH=str(collections), **env)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(module_path(collections, fqcn)), str(args_file)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=LIMIT,
        check=False,
        cwd=work,
    )
    elapsed = time.monotonic() - started
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        output = f"{proc.stdout}\n{proc.stderr}"
        raise SystemExit(f"bench: {fqcn} printed no JSON (rc={proc.returncode}):\n{output}") from None
    if result.get("failed"):
        raise SystemExit(f"bench: {fqcn} failed: {result.get('msg')}")
    return elapsed, result


def run_via_playbook(collections, fqcn, args, env, work):
    """One ansible-playbook run with the one task; returns (s, changed)."""
    play = [
        {
            "name": "bench",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [{"name": "converge", fqcn: args, "register": "r", "environment": env}],
        }
    ]
    playbook = work / f"play-{time.monotonic_ns()}.yml"
    playbook.write_text(json.dumps(play))  # JSON is YAML
    started = time.monotonic()
    proc = run_playbook(
        playbook,
        "localhost,",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        timeout=LIMIT,
        env={"ANSIBLE_COLLECTIONS_PATH": str(collections)},
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: ansible-playbook with {fqcn} failed:\n{proc.stdout[-3000:]}")
    return elapsed, "changed=1" in proc.stdout.split("PLAY RECAP")[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed no-change runs per implementation and way")
    parser.add_argument("--nodes", type=int, default=3, help="RabbitMQ nodes in the harness cluster")
    parser.add_argument("--no-playbook", action="store_true", help="skip the ansible-playbook timing")
    args = parser.parse_args()
    require_rabbitmq()
    work = pathlib.Path(tempfile.mkdtemp(prefix="rabbitmq-policy-bench-"))
    try:
        return bench(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work, args):
    collections = community_collections(work)
    print(f"starting a {args.nodes}-node RabbitMQ cluster on 127.0.0.1 ...", flush=True)
    with rabbitmq_cluster(args.nodes, form=args.nodes > 1) as cluster:
        contenders = implementations(cluster)
        for label, fqcn, module_args, env in contenders:  # create each policy once
            _s, result = run_module_process(collections, fqcn, module_args, env, work)
            if not result.get("changed"):
                raise SystemExit(f"bench: {label} did not create its policy: {result}")
        stored = {p["name"]: p for p in cluster.api(0, "GET", "/api/policies/%2F").json()}
        for name in ("bench-ours", "bench-community-cli", "bench-community-api"):
            assert stored[name]["definition"] == DEFINITION, stored[name]
            assert stored[name]["pattern"] == PATTERN and stored[name]["apply-to"] == "queues", stored[name]

        ways = [("module process", run_module_process)]
        if not args.no_playbook:
            ways.append(("ansible-playbook", run_via_playbook))
        rows = []
        for way, runner in ways:
            for label, fqcn, module_args, env in contenders:
                times = []
                for _run in range(args.runs):
                    elapsed, outcome = runner(collections, fqcn, module_args, env, work)
                    changed = outcome.get("changed") if isinstance(outcome, dict) else outcome
                    if changed:
                        raise SystemExit(f"bench: {label} reported a change on an already-right policy")
                    times.append(elapsed)
                rows.append((way, label, times))
                print(f"  {way:<17} {label:<50} median {statistics.median(times):.3f} s", flush=True)

    print()
    print(
        f"no-change convergence of one policy, {args.runs} runs each, RabbitMQ 3.10.8, {args.nodes} node(s) on "
        "127.0.0.1; seconds"
    )
    header = f"{'way':<18}{'implementation':<52}{'median':>8}{'min':>8}{'max':>8}{'ours / this':>13}"
    print(header)
    print("-" * len(header))
    ours = {way: statistics.median(times) for way, label, times in rows if label.startswith("ours")}
    for way, label, times in rows:
        median = statistics.median(times)
        ratio = ours[way] / median if median else float("nan")
        print(f"{way:<18}{label:<52}{median:>8.3f}{min(times):>8.3f}{max(times):>8.3f}{ratio:>12.2f}x")
    cli = next(statistics.median(t) for w, label, t in rows if w == "module process" and "rabbitmqctl" in label)
    goal = ours["module process"] <= cli / 5
    print()
    print(
        f"goal (module process): ours <= 1/5 of rabbitmqctl's: {ours['module process']:.3f} s vs {cli:.3f} s / 5 = "
        f"{cli / 5:.3f} s -> {'met' if goal else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
