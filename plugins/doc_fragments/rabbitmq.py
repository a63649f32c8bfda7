# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Management HTTP API options of the apiplatform.ha RabbitMQ API modules
    # (argument spec: module_utils/rabbitmq.py rabbitmq_api_argument_spec).
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - RabbitMQ management HTTP API of any running node of the cluster (scheme, host and port), for example
        V(http://10.0.0.1:15672) or V(https://10.0.0.1:15671). A path prefix (a reverse proxy) is kept.
      - Needs the C(rabbitmq_management) plugin on that node.
    type: str
    default: http://127.0.0.1:15672
  api_user:
    description:
      - User the module logs in as; it needs the C(administrator) tag (policies, nodes of the whole cluster).
        The C(guest) user is refused from anywhere but localhost.
    type: str
    default: admin
  api_password:
    description:
      - Password of O(api_user).
    type: str
    required: true
  api_ca_cert:
    description:
      - CA bundle (PEM) that signed the management API certificate, for an C(https) O(api_url).
    type: path
  validate_certs:
    description:
      - Verify the management API certificate. Set to V(false) only for throw-away test clusters.
    type: bool
    default: true
  api_timeout:
    description:
      - Seconds to wait for each HTTP request.
    type: int
    default: 10
requirements:
  - requests (python3-requests on Debian) on the host that runs the module
"""
