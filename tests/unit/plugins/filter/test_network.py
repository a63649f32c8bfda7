"""plugins/filter/network.py: ip_in_network."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.apiplatform.ha.plugins.filter.network import FilterModule, ip_in_network


@pytest.mark.parametrize(
    ("address", "network", "expected"),
    [
        ("172.29.1.100", "172.29.1.0/24", True),
        ("172.29.1.100", "172.29.1.11/24", True),  # an interface address: host bits allowed
        ("172.29.1.100", "172.29.1.0/255.255.255.0", True),
        ("172.29.2.100", "172.29.1.0/24", False),
        ("172.29.1.100", "172.29.1.96/30", False),
        ("172.29.1.100", "172.29.1.100/32", True),
        (" 10.0.0.1 ", "10.0.0.0/8", True),
        ("fd00::5", "fd00::/64", True),
        ("fd00:1::5", "fd00::/64", False),
        ("10.0.0.1", "fd00::/64", False),  # different IP versions: not contained, no error
    ],
)
def test_ip_in_network(address, network, expected):
    assert ip_in_network(address, network) is expected


@pytest.mark.parametrize(
    ("address", "network", "needle"),
    [
        ("not-an-ip", "10.0.0.0/8", "'not-an-ip' is not an IP address"),
        ("10.0.0.1/8", "10.0.0.0/8", "is not an IP address"),
        ("10.0.0.1", "10.0.0.0/33", "'10.0.0.0/33' is not a network"),
        ("10.0.0.1", "", "is not a network"),
    ],
)
def test_bad_input(address, network, needle):
    with pytest.raises(AnsibleFilterError, match=needle):
        ip_in_network(address, network)


def test_registered():
    assert FilterModule().filters() == {"ip_in_network": ip_in_network}
