# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Debian package specs dpkg already satisfies (pure logic; no Ansible import).

The roles read ``dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Status}\\n' <names>`` (one cheap command)
and call the apt module only for what this returns, so a run with every package in place skips apt's cache load.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DPKG_QUERY_FORMAT = "${Package}\\t${Version}\\t${db:Status-Status}\\n"

_SPEC = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?:=(?P<version>[A-Za-z0-9.+~:-]+)(?P<wildcard>\*)?)?$")


def spec_name(spec):
    """The package name of an apt spec (``name``, ``name=version`` or ``name=version*``); None for other forms."""
    match = _SPEC.match(str(spec).strip())
    return match.group("name") if match else None


def installed_versions(lines):
    """``{package: version}`` of the fully installed packages in dpkg-query's output lines."""
    versions = {}
    for line in lines or []:
        parts = str(line).split("\t")
        if len(parts) == 3 and parts[2].strip() == "installed":
            versions[parts[0].strip()] = parts[1].strip()
    return versions


def debs_missing(specs, lines):
    """The specs in ``specs`` that the installed packages do not satisfy, in their order.

    ``name`` needs the package installed; ``name=version`` that exact version; ``name=version*`` a version that
    starts with it. Any other form (a comparison, an architecture, a file) is returned as missing, so apt decides.
    """
    versions = installed_versions(lines)
    missing = []
    for spec in specs or []:
        match = _SPEC.match(str(spec).strip())
        if match is None or match.group("name") not in versions:
            missing.append(spec)
            continue
        wanted, installed = match.group("version"), versions[match.group("name")]
        if wanted is None:
            continue
        if match.group("wildcard") and installed.startswith(wanted):
            continue
        if not match.group("wildcard") and installed == wanted:
            continue
        missing.append(spec)
    return missing


def debs_query_names(specs):
    """The package names to give dpkg-query for ``specs`` (specs of other forms are left out: they count as missing)."""
    names = []
    for spec in specs or []:
        name = spec_name(spec)
        if name and name not in names:
            names.append(name)
    return names
