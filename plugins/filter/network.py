# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: ip_in_network
short_description: Whether an IP address lies inside a network
version_added: "0.1.0"
author: apiplatform.ha maintainers
description:
  - True when O(_input) is an address of the network O(network), computed with the Python standard library
    (C(ipaddress)), so that ansible.utils is not needed.
  - O(network) may carry host bits (C(172.29.1.11/24) is read as C(172.29.1.0/24)), as an interface address does.
  - An address and a network of different IP versions are not contained in each other (false, no error).
options:
  _input:
    description: The IPv4 or IPv6 address to test, without a prefix length.
    type: str
    required: true
  network:
    description: The network in CIDR notation (C(address/prefix) or C(address/netmask)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check that the VIP is on the interface's subnet
  ansible.builtin.assert:
    that: "'172.29.1.100' | apiplatform.ha.ip_in_network('172.29.1.11/24')"

# false: another subnet
- ansible.builtin.debug:
    msg: "{{ '172.29.2.100' | apiplatform.ha.ip_in_network('172.29.1.0/24') }}"
"""

RETURN = r"""
_value:
  description: True when the address is inside the network.
  type: bool
"""


def ip_in_network(address, network):
    """True when ``address`` is inside ``network`` (CIDR, host bits allowed); raises AnsibleFilterError on bad input."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError as e:
        raise AnsibleFilterError(f"ip_in_network: {address!r} is not an IP address ({e})") from None
    try:
        net = ipaddress.ip_network(str(network).strip(), strict=False)
    except ValueError as e:
        raise AnsibleFilterError(f"ip_in_network: {network!r} is not a network in CIDR notation ({e})") from None
    return ip.version == net.version and ip in net


class FilterModule:
    def filters(self):
        return {"ip_in_network": ip_in_network}
