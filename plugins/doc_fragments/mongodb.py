# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every apiplatform.ha MongoDB module
    # (argument spec: module_utils/mongodb.py mongodb_argument_spec, mongodb_required_together).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host of the mongod the module connects to first (directly, never through replica set discovery).
      - The modules that change the set find the primary from that member's C(hello) and connect to it directly
        under the name the replica set config gives it, so the members' names must resolve from the host that runs
        the module.
    type: str
    default: localhost
  login_port:
    description:
      - Port of the mongod at O(login_host).
    type: int
    default: 27017
  login_user:
    description:
      - User to authenticate as (SCRAM). Without it the module connects unauthenticated (the localhost exception
        only allows that before the first user exists). Requires O(login_password).
      - Changing the set needs the C(clusterAdmin) role; reading it C(clusterMonitor).
    type: str
  login_password:
    description:
      - Password of O(login_user).
    type: str
  login_database:
    description:
      - Authentication database of O(login_user).
    type: str
    default: admin
  replica_set:
    description:
      - Name of the replica set. When given, the module checks that the member it talks to belongs to that set and
        fails otherwise (a safety check against a wrong O(login_host)); it is not used to discover members.
    type: str
  tls:
    description:
      - Connect with TLS.
    type: bool
    default: false
  tls_ca_file:
    description:
      - CA bundle (PEM) that signed the members' certificates. Requires O(tls=true).
    type: path
  tls_certificate_key_file:
    description:
      - Client certificate and its private key in one PEM file, when mongod requires client certificates
        (C(net.tls.mode) with C(CAFile) and no C(allowConnectionsWithoutCertificates)). Requires O(tls=true).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a member to answer when connecting (pymongo's server selection and connect timeouts).
    type: int
    default: 10
requirements:
  - pymongo 3.11 or later (python3-pymongo on Debian) on the host that runs the module
notes:
  - Written for MongoDB 7 replica sets (protocol version 1); the commands used exist since MongoDB 4.4.
"""
