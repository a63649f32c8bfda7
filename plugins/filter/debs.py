# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.apiplatform.ha.plugins.module_utils.debs import debs_missing, debs_query_names


class FilterModule:
    def filters(self):
        return {"debs_missing": debs_missing, "debs_query_names": debs_query_names}
