# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq import RabbitMQError, canonical_definitions


def rabbitmq_definitions(definitions):
    try:
        return canonical_definitions(definitions)
    except RabbitMQError as exc:
        raise AnsibleFilterError(f"rabbitmq_definitions: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"rabbitmq_definitions": rabbitmq_definitions}
