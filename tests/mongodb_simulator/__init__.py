"""apiplatform.ha MongoDB wire-protocol replica-set simulator -- a test double, NOT MongoDB.

MongoDB has no package reachable from the test machines, so the collection's MongoDB modules (pymongo) are tested
against this simulator: one process per replica-set member, built on mockupdb's wire-protocol server, speaking the
commands the modules and the reference app use with MongoDB's documented reply shapes and error codes.

Run: PYTHONPATH=tests python3 -m mongodb_simulator --config /etc/mongod.conf [--heartbeat-interval 1.0]
     [--election-timeout 4] [--oplog-window 3600] [--initial-sync-seconds 3] [--noop-interval 2]
Every flag can also come from the environment: MONGODB_SIMULATOR_HEARTBEAT_INTERVAL, ..._ELECTION_TIMEOUT,
..._OPLOG_WINDOW, ..._INITIAL_SYNC_SECONDS, ..._NOOP_INTERVAL, MONGODB_SIMULATOR_CONFIG.

Simplifications (by design): replication copies full snapshots of users+data instead of oplog entries; the oplog
exposes only its oldest and newest entries; elections use a deterministic "best electable member" rule plus a
one-vote-per-term vote request instead of Raft-like catch-up; TLS covers net.tls.mode, certificateKeyFile, CAFile
and allowConnectionsWithoutCertificates only; no transactions, no x.509/LDAP authentication, SCRAM-SHA-256 only;
cursors return everything in the first batch.
"""

SIMULATOR_NAME = "apiplatform.ha replica-set simulator (not MongoDB)"
