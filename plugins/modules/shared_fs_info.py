#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: shared_fs_info
short_description: File count, size, manifest digest and sync lag of the shared tree on one host
version_added: 0.2.0
description:
  - Builds the manifest of the shared tree O(path) (path, size, mtime, sha256 of every regular file and symlink; a
    file whose size, mtime, inode and ctime are unchanged since the last manifest is not hashed again) and reports
    the file count, bytes, the manifest digest, and the last successful sync recorded by
    M(apiplatform.ha.shared_fs_sync) (its peer, time and age in seconds).
  - Equal digests on two sites mean equal trees (paths and contents; the C(.shared-fs) metadata directory excluded).
  - With O(write_manifest=true) the manifest (and its stat cache) is saved in C(.shared-fs/manifest.json), where
    M(apiplatform.ha.shared_fs_sync) fetches it when this host is the destination of a sync. This writes metadata
    only, never the tree, so the module always reports C(changed=false).
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  write_manifest:
    description:
      - Save the manifest in C(.shared-fs/manifest.json). Skipped in check mode; set the task keyword
        C(check_mode=false) to refresh it anyway (it is metadata, not data).
    type: bool
    default: false
  peer:
    description:
      - Report the sync with this site as RV(shared_fs.last_sync). Default the most recent sync with any site.
    type: str
extends_documentation_fragment:
  - apiplatform.ha.shared_fs
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the tree the same way; O(write_manifest) is skipped.
  diff_mode:
    support: none
    details: Changes nothing in the tree.
  platform:
    platforms: posix
seealso:
  - module: apiplatform.ha.shared_fs_sync
"""

EXAMPLES = r"""
- name: Read the shared tree of every shared_fs host
  apiplatform.ha.shared_fs_info:
    path: /srv/shared
    site: dc1
  register: __shared_fs

- name: Refresh the manifest before this host receives a sync
  apiplatform.ha.shared_fs_info:
    path: /srv/shared
    site: dc2
    mount_required: true
    write_manifest: true
"""

RETURN = r"""
shared_fs:
  description: The tree on this host.
  returned: always
  type: dict
  contains:
    path:
      description: The tree's root.
      returned: always
      type: str
      sample: /srv/shared
    site:
      description: The site given in O(site).
      returned: always
      type: str
      sample: dc1
    mounted:
      description: Whether O(path) is a mount point.
      returned: always
      type: bool
      sample: false
    files:
      description: Number of regular files and symlinks.
      returned: always
      type: int
      sample: 10000
    bytes:
      description: Total size of the regular files.
      returned: always
      type: int
      sample: 209715200
    digest:
      description: Manifest digest (sha256 over every path and content fingerprint).
      returned: always
      type: str
      sample: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
    hashed_files:
      description: Files hashed in this run (the others came from the stat cache).
      returned: always
      type: int
      sample: 3
    manifest_written:
      description: Whether the manifest was saved (O(write_manifest) and not check mode).
      returned: always
      type: bool
      sample: true
    last_sync:
      description: The selected sync record (see O(peer)), or null when this tree never synchronised.
      returned: always
      type: dict
      sample:
        peer: dc2
        role: destination
        time: 1767225600.0
        age_seconds: 42
        digest: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
        matches: true
    peers:
      description: Every sync record of this tree (same keys as RV(shared_fs.last_sync)), by peer site.
      returned: always
      type: dict
      sample:
        dc2:
          peer: dc2
          role: destination
          time: 1767225600.0
          age_seconds: 42
          digest: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
          matches: true
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.apiplatform.ha.plugins.module_utils.shared_fs import (
    SharedFsError,
    check_tree,
    is_mounted,
    latest_record,
    peer_record_path,
    read_peer_records,
    refresh_manifest,
    sync_age,
    tree_argument_spec,
    validate_root,
)


def record_view(record, digest, now):
    """A sync record as reported: peer, role, time, age and whether the tree still has the recorded digest."""
    return {
        "peer": record.get("peer"),
        "role": record.get("role"),
        "time": record.get("time"),
        "age_seconds": sync_age(record, now),
        "digest": record.get("digest"),
        "matches": record.get("digest") == digest,
    }


def run(module):
    params = module.params
    root = validate_root(params["path"])
    peer_record_path(root, params["site"])
    if params["peer"]:
        peer_record_path(root, params["peer"])
    check_tree(root, params["mount_required"])
    write = params["write_manifest"] and not module.check_mode
    doc, stats = refresh_manifest(root, params["site"], os.uname().nodename, save=write)
    now = time.time()
    records = read_peer_records(root)
    peers = {name: record_view(dict(r, peer=r.get("peer") or name), doc["digest"], now) for name, r in records.items()}
    if params["peer"]:
        last = peers.get(params["peer"])
    else:
        latest = latest_record(list(peers.values()))
        last = latest
    return {
        "changed": False,
        "shared_fs": {
            "path": root,
            "site": params["site"],
            "mounted": is_mounted(root),
            "files": doc["count"],
            "bytes": doc["bytes"],
            "digest": doc["digest"],
            "hashed_files": stats["hashed"],
            "manifest_written": bool(write),
            "last_sync": last,
            "peers": peers,
        },
    }


def main():
    argument_spec = tree_argument_spec()
    argument_spec.update(
        write_manifest={"type": "bool", "default": False},
        peer={"type": "str"},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module)
    except SharedFsError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
