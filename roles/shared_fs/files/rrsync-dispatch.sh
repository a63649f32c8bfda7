#!/bin/sh
# Forced command of the shared_fs sync account (authorized_keys): rrsync rooted in the shared tree.
#
#     rrsync-dispatch.sh <rrsync> <tree>
#
# A read (the client pulls: "rsync --server --sender ...", the test rrsync itself makes) runs as "rrsync -ro": it
# refuses anything but a read (and --remove-source-files, --delete*, --log-file), so it cannot change the tree, and it
# takes no lock. Anything else runs as plain rrsync, whose single-run lock keeps admitting one writer at a time: two
# sources never write one tree at once. rrsync checks the command again itself, so this choice cannot widen what a
# session may do; it only lets a read run while a write holds the lock (shared_fs_sync fetches the destination's
# manifest while its sync record's rsync waits).
case "${SSH_ORIGINAL_COMMAND:-}" in
    "rsync --server --sender "*) exec "$1" -ro "$2" ;;
    *) exec "$1" "$2" ;;
esac
