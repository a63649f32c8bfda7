#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: peer_reachability
short_description: Probe whether peer hosts in other sites can be reached over the network
version_added: "0.1.0"
description:
  - Opens a TCP connection from the managed host to each target address and port.
  - A completed connection and a refused one (the peer answered with a reset) both prove that the peer host is
    reachable; a time-out, C(no route to host) or C(network unreachable) mean it is not. A firewall that silently
    drops the probe port therefore reads as unreachable, so choose a port the firewall lets through.
  - Never changes anything. Used by the precheck to refuse deployments while an inter-site link is down.
author:
  - apiplatform.ha maintainers (@apiplatform)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
options:
  targets:
    description: The peers to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Inventory name of the peer, echoed in the result.
        type: str
        required: true
      address:
        description: IP address or host name to connect to.
        type: str
        required: true
      port:
        description: TCP port to probe.
        type: int
        default: 22
  timeout:
    description: Seconds to wait for each connection.
    type: float
    default: 3
"""

EXAMPLES = r"""
- name: Probe the other sites' hosts
  apiplatform.ha.peer_reachability:
    targets:
      - name: dc2-node1
        address: 192.0.2.21
      - name: witness-node1
        address: 192.0.2.31
        port: 2380
  register: probe
"""

RETURN = r"""
results:
  description: One entry per target, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - name: dc2-node1
      address: 192.0.2.21
      port: 22
      reachable: true
      detail: connection refused (host answered)
      seconds: 0.001
unreachable_peers:
  description: Names of the targets that could not be reached (not C(unreachable), which Ansible reserves).
  returned: always
  type: list
  elements: str
  sample: [dc2-node1]
"""

import errno
import socket
import time

from ansible.module_utils.basic import AnsibleModule

REACHABLE_ERRNOS = {errno.ECONNREFUSED: "connection refused (host answered)"}


def probe(address, port, timeout, connect=socket.create_connection):
    """Return (reachable, detail, seconds) for one TCP probe."""
    started = time.monotonic()
    try:
        sock = connect((address, port), timeout)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s", time.monotonic() - started
    except socket.gaierror as exc:
        return False, f"name does not resolve: {exc}", time.monotonic() - started
    except OSError as exc:
        if exc.errno in REACHABLE_ERRNOS:
            return True, REACHABLE_ERRNOS[exc.errno], time.monotonic() - started
        return False, exc.strerror or str(exc), time.monotonic() - started
    sock.close()
    return True, "connected", time.monotonic() - started


def main():
    module = AnsibleModule(
        argument_spec={
            "targets": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "address": {"type": "str", "required": True},
                    "port": {"type": "int", "default": 22},
                },
            },
            "timeout": {"type": "float", "default": 3},
        },
        supports_check_mode=True,
    )
    results = []
    for target in module.params["targets"]:
        reachable, detail, seconds = probe(target["address"], target["port"], module.params["timeout"])
        results.append(dict(target, reachable=reachable, detail=detail, seconds=round(seconds, 3)))
    unreachable_peers = [r["name"] for r in results if not r["reachable"]]
    module.exit_json(changed=False, results=results, unreachable_peers=unreachable_peers)


if __name__ == "__main__":
    main()
