# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every apiplatform.ha etcd module (argument spec: module_utils/etcd.py etcd_argument_spec).
    DOCUMENTATION = r"""
options:
  endpoints:
    description:
      - etcd client URLs (scheme, host and port), for example V(https://10.0.0.1:2379).
      - Cluster-wide requests go to the first endpoint that answers; the others are tried in turn.
      - Per-member health is always asked from each member's own advertised client URLs.
    type: list
    elements: str
    required: true
  ca_cert:
    description:
      - CA bundle that signed the etcd server certificates (PEM). Used instead of the system trust store.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for etcd client-cert authentication. Requires O(client_key).
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
    type: path
  validate_certs:
    description:
      - Verify the etcd server certificate. Set to V(false) only for throw-away test clusters.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP request.
      - Per-member status requests use the smaller of this and 2 seconds, so that a dead member does not stall the call.
    type: float
    default: 5.0
  user:
    description:
      - etcd user for etcd's own authentication (C(etcdctl auth enable)). Requires O(password).
      - Membership changes need a user with the C(root) role.
    type: str
  password:
    description:
      - Password of O(user).
    type: str
requirements:
  - requests (python3-requests on Debian) on the host that runs the module
notes:
  - Talks to etcd v3 through its JSON gRPC gateway (C(/v3/...)), served by etcd 3.4 and later on the client port.
  - Member ids are shown in lowercase hexadecimal, as C(etcdctl member list) shows them.
"""
