# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.apiplatform.ha.plugins.module_utils.placement import PlacementError, service_placement


def _service_placement(services, candidates, running=None, pinned=None, actionable=None):
    try:
        return service_placement(services, candidates, running, pinned, actionable)
    except PlacementError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"service_placement": _service_placement}
