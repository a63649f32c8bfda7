# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of every apiplatform.ha shared_fs module (argument spec: module_utils/shared_fs.py tree_argument_spec).
    DOCUMENTATION = r"""
options:
  path:
    description:
      - Absolute path of the shared tree on the managed host (a local directory or a mount point).
      - Its metadata (manifest, stat cache, sync records) lives in the hidden directory C(.shared-fs) inside it,
        which is never synchronised and never part of a digest.
    type: path
    required: true
  site:
    description:
      - Name of the managed host's site (its site group, for example V(dc1)). Recorded in the manifest and in the
        sync records, and used to name the peer of a sync.
    type: str
    required: true
  mount_required:
    description:
      - Fail unless O(path) is a mount point (an NFS or other file system the operator mounts there).
    type: bool
    default: false
"""
