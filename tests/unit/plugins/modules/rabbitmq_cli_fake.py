"""A fake set of RabbitMQ nodes behind rabbitmqctl / rabbitmq-queues argument lists, for the unit tests of
module_utils/rabbitmq_cli.py, rabbitmq_cluster_member and rabbitmq_quorum_members.

It answers ``run_command(cmd)`` with output shaped like RabbitMQ 3.10.8's (the JSON and the error texts are the ones
captured in tests/unit/plugins/fixtures/rabbitmq_cli, with the node names replaced) and keeps a small model of the
nodes: Erlang VM up or not, rabbit app running or not, the cluster members each node knows, quorum queues.
"""

import json
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rabbitmq_cli"
CTL = "/usr/sbin/rabbitmqctl"
QUEUES = "/usr/sbin/rabbitmq-queues"
DEFAULT_NODE = "rabbit@node1"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


OUTPUTS = fixture("cli_outputs.json")


def output(name, **names):
    """A captured ``(rc, stdout, stderr)`` with x1/x2/x3@localhost replaced by the given node names."""
    item = OUTPUTS[name]
    out, err = item["stdout"], item["stderr"]
    for old, new in names.items():
        out = out.replace(f"{old}@localhost", new)
        err = err.replace(f"{old}@localhost", new)
    return item["rc"], out, err


def atom(name):
    return f"'{name}'" if any(c in name for c in "-.") else name


class FakeRabbit:
    def __init__(self, names, clusters=None, app_stopped=(), down=(), queues=None, vhosts=("/",)):
        self.vm = {n: n not in down for n in names}
        self.app = {n: n not in down and n not in app_stopped for n in names}
        self.known = {n: {n} for n in names}
        for group in clusters or []:
            for n in group:
                self.known[n] = set(group)
        self.vhosts = list(vhosts)
        # (vhost, name) -> {"type": ..., "members": [...]}
        self.queues = {(q.get("vhost", "/"), q["name"]): dict(q) for q in (queues or [])}
        self.calls = []
        self.writes = []
        self.fail = {}  # verb -> (rc, out, err) to answer once instead of acting

    # -- helpers -----------------------------------------------------------------------------------------------------

    def running(self, node):
        return [m for m in sorted(self.known[node]) if self.app[m]]

    def down_error(self, node):
        rc, out, err = output("node_not_running", nosuch=node)
        return rc, out, err.replace("node 'nosuch' not running", f"node '{node.split('@')[0]}' not running")

    def cluster_status_json(self, node):
        data = fixture("cs_three.json")
        members = sorted(self.known[node])
        data["disk_nodes"] = members
        data["ram_nodes"] = []
        data["running_nodes"] = list(reversed(self.running(node)))  # RabbitMQ does not sort them
        data["partitions"] = {}
        data["alarms"] = []
        return json.dumps(data)

    # -- run_command -------------------------------------------------------------------------------------------------

    def run_command(self, cmd):
        assert isinstance(cmd, list), cmd
        self.calls.append(cmd)
        tool = cmd[0]
        args = cmd[1:]
        node = DEFAULT_NODE
        while args and args[0] in ("-n", "--timeout"):
            if args[0] == "-n":
                node = args[1]
            args = args[2:]
        if node not in self.vm or not self.vm[node]:
            return self.down_error(node)
        verb = args[0]
        if verb in self.fail:
            return self.fail.pop(verb)
        if tool == QUEUES:
            return self.queues_command(node, verb, args[1:])
        assert tool == CTL, tool
        return getattr(self, f"ctl_{verb}")(node, args[1:])

    # -- rabbitmqctl ---------------------------------------------------------------------------------------------------

    def ctl_eval(self, node, args):
        assert args == ["{node(), rabbit:is_running(), rabbit_nodes:all()}."], args
        members = ",".join(atom(m) for m in sorted(self.known[node]))
        return 0, f"{{{atom(node)},{'true' if self.app[node] else 'false'},[{members}]}}\n", ""

    def ctl_cluster_status(self, node, args):
        assert args == ["--formatter", "json"], args
        if not self.app[node]:
            return output("app_stopped", x3=node)
        return 0, self.cluster_status_json(node), ""

    def ctl_stop_app(self, node, args):
        self.writes.append(("stop_app", node))
        self.app[node] = False
        return 0, f"Stopping rabbit application on node {node} ...\n", ""

    def ctl_start_app(self, node, args):
        for peer in sorted(self.known[node] - {node}):
            if self.app[peer] and node not in self.known[peer]:
                return output("start_app_forgotten", x3=node, x2=peer)
        self.writes.append(("start_app", node))
        self.app[node] = True
        return 0, f"Starting node {node} ...\n", ""

    def ctl_join_cluster(self, node, args):
        peer = args[0]
        if self.app[node]:
            return output("join_while_running", x2=node, x1=peer)
        if not self.vm.get(peer):
            return self.down_error(peer)
        if node in self.known[peer] and peer not in self.known[node]:
            return output("join_inconsistent", x1=peer, x3=node)
        self.writes.append(("join_cluster", node, peer))
        self.leave(node)
        members = self.known[peer] | {node}
        for m in members:
            self.known[m] = set(members)
        return 0, f"Clustering node {node} with {peer}\n", ""

    def leave(self, node):
        for m in self.known[node] - {node}:
            self.known[m].discard(node)
        self.known[node] = {node}

    def ctl_reset(self, node, args):
        peers = self.known[node] - {node}
        if peers and not any(self.app[p] for p in peers):
            return output("reset_peers_down", x3=node)
        self.writes.append(("reset", node))
        self.leave(node)
        return 0, f"Resetting node {node} ...\n", ""

    def ctl_force_reset(self, node, args):
        self.writes.append(("force_reset", node))
        self.known[node] = {node}
        return 0, f"Forcefully resetting node {node} ...\n", ""

    def ctl_forget_cluster_node(self, node, args):
        target = args[0]
        if self.app.get(target):
            return output("forget_running", x2=target, x1=node)
        if target not in self.known[node]:
            return output("forget_not_member", zz=target, x1=node)
        self.writes.append(("forget_cluster_node", node, target))
        for m in sorted(self.known[node]):
            if m != target:
                self.known[m].discard(target)
        return 0, f"Removing node {target} from the cluster\n", ""

    def ctl_list_vhosts(self, node, args):
        assert args == ["name", "--formatter", "json"], args
        if not self.app[node]:
            return output("app_stopped", x3=node)
        return 0, "[\n" + "\n,".join(json.dumps({"name": v}) for v in self.vhosts) + "\n]\n", ""

    def ctl_list_queues(self, node, args):
        columns = ["name", "type", "leader", "members", "online", "--formatter", "json"]
        assert args[0] == "--vhost" and args[2:] == columns, args
        if not self.app[node]:
            return output("app_stopped", x3=node)
        vhost = args[1]
        rows = []
        for (v, name), q in sorted(self.queues.items()):
            if v != vhost:
                continue
            if q.get("type", "quorum") != "quorum":
                rows.append({"name": name, "type": "classic", "leader": "", "members": "", "online": ""})
                continue
            online = [m for m in q["members"] if self.app.get(m)]
            leader = online[0] if online else q["members"][0]
            rows.append({"name": name, "type": "quorum", "leader": leader, "members": q["members"], "online": online})
        return 0, "[\n" + "\n,".join(json.dumps(r) for r in rows) + "\n]\n", ""

    # -- rabbitmq-queues -----------------------------------------------------------------------------------------------

    def queues_command(self, node, verb, args):
        assert args[0] == "--vhost", args
        vhost, name, member = args[1], args[2], args[3]
        q = self.queues.get((vhost, name))
        if q is None:
            return 69, f"Adding a replica for queue {name} on node {member}...\n", "Error:\nnot_found\n"
        if verb == "add_member":
            if not self.app.get(member):
                return output("add_member_not_running", zz=member)
            self.writes.append(("add_member", vhost, name, member))
            if member not in q["members"]:
                q["members"] = [*q["members"], member]
            return 0, f"Adding a replica for queue {name} on node {member}...\n", ""
        assert verb == "delete_member", verb
        if q["members"] == [member]:
            return output("delete_last_member", x1=member)
        self.writes.append(("delete_member", vhost, name, member))
        q["members"] = [m for m in q["members"] if m != member]
        return 0, f"Removing a replica of queue {name} on node {member}...\n", ""
