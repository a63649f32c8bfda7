# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of the apiplatform.ha RabbitMQ modules that run the CLI tools
    # (argument spec: module_utils/rabbitmq_cli.py rabbitmq_cli_argument_spec).
    DOCUMENTATION = r"""
options:
  rabbitmqctl_path:
    description:
      - C(rabbitmqctl) to run, a name looked up in E(PATH) (and the sbin directories) or an absolute path.
      - As root, Debian's C(/usr/sbin/rabbitmqctl) runs the tool as the C(rabbitmq) user, with that user's Erlang
        cookie (C(/var/lib/rabbitmq/.erlang.cookie)). Any other user needs the nodes' cookie in its own
        C(~/.erlang.cookie) (set E(HOME) with the task's C(environment) to choose another one).
    type: str
    default: rabbitmqctl
notes:
  - The CLI tools reach a node through Erlang distribution (epmd, port 4369 unless E(ERL_EPMD_PORT) says otherwise,
    and the node's distribution port) and authenticate with the Erlang cookie. A node name is C(name@host) as the
    node was started with (C(rabbit@<short hostname>) by default); a task's C(environment) may set
    E(RABBITMQ_NODENAME) to change the tools' default node.
"""
