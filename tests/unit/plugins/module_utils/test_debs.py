"""Which apt specs dpkg-query's output already satisfies (module_utils/debs.py)."""

import pytest

from ansible_collections.apiplatform.ha.plugins.module_utils.debs import (
    debs_missing,
    debs_query_names,
    installed_versions,
)

OUTPUT = [
    "haproxy\t2.6.12-1+deb12u2\tinstalled",
    "keepalived\t1:2.2.7-1+b2\tinstalled",
    "rabbitmq-server\t3.10.8-1.1\tinstalled",
    "socat\t1.7.4.4-2\tconfig-files",
    "lsyncd\t\tnot-installed",
]


def test_installed_versions_keeps_only_fully_installed_packages():
    assert installed_versions(OUTPUT) == {
        "haproxy": "2.6.12-1+deb12u2",
        "keepalived": "1:2.2.7-1+b2",
        "rabbitmq-server": "3.10.8-1.1",
    }
    assert installed_versions(["garbage", "", None]) == {}


@pytest.mark.parametrize(
    ("specs", "missing"),
    [
        (["haproxy", "keepalived"], []),
        (["haproxy", "socat", "lsyncd", "rsync"], ["socat", "lsyncd", "rsync"]),
        (["rabbitmq-server=3.10.8-1.1"], []),
        (["rabbitmq-server=3.10.7-1"], ["rabbitmq-server=3.10.7-1"]),
        (["rabbitmq-server=3.10*"], []),
        (["rabbitmq-server=3.11*"], ["rabbitmq-server=3.11*"]),
        (["keepalived=1:2.2.7-1+b2"], []),
        # forms apt understands but this does not compare: apt decides
        (["haproxy>=2.6", "haproxy:amd64", "/tmp/x.deb"], ["haproxy>=2.6", "haproxy:amd64", "/tmp/x.deb"]),
        ([], []),
    ],
)
def test_debs_missing(specs, missing):
    assert debs_missing(specs, OUTPUT) == missing


def test_nothing_read_means_everything_is_missing():
    assert debs_missing(["haproxy", "socat=1.7*"], []) == ["haproxy", "socat=1.7*"]
    assert debs_missing(["haproxy"], None) == ["haproxy"]


def test_query_names_drop_versions_duplicates_and_other_forms():
    specs = ["rabbitmq-server=3.10.8-1.1", "socat", "socat", "haproxy>=2.6", "erlang-base=1:25*"]
    assert debs_query_names(specs) == ["rabbitmq-server", "socat", "erlang-base"]
