# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Patroni REST API options of every apiplatform.ha Patroni module
    # (argument spec: module_utils/patroni.py patroni_argument_spec).
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Patroni REST API of any member (scheme, host and port), for example V(http://10.0.0.1:8008).
      - Requests that must reach one particular member (the new leader after a switchover, the member to
        reinitialize) go to the C(api_url) that member publishes in C(GET /cluster); the same credentials and TLS
        options are used for them.
    type: str
    default: http://127.0.0.1:8008
  api_username:
    description:
      - User of Patroni's C(restapi.authentication). Patroni asks for it on every write (C(POST), C(PATCH));
        reads (C(GET)) are sent without it. Requires O(api_password).
    type: str
  api_password:
    description:
      - Password of O(api_username).
    type: str
  api_ca_cert:
    description:
      - CA bundle (PEM) that signed the REST API certificates, for an C(https) O(api_url).
    type: path
  api_client_cert:
    description:
      - Client certificate (PEM) when Patroni's REST API verifies clients (C(restapi.verify_client)). Requires
        O(api_client_key).
    type: path
  api_client_key:
    description:
      - Private key (PEM) of O(api_client_cert).
    type: path
  api_validate_certs:
    description:
      - Verify the REST API certificate. Set to V(false) only for throw-away test clusters.
    type: bool
    default: true
  api_timeout:
    description:
      - Seconds to wait for each REST request (a switchover request waits for Patroni's own answer, at least 30 s).
    type: float
    default: 5.0
requirements:
  - requests (python3-requests on Debian) on the host that runs the module
notes:
  - Written for Patroni 4.x with an etcd3 DCS. Member roles are Patroni's (V(leader), V(replica),
    V(sync_standby), V(quorum_standby), V(standby_leader)); replica states V(streaming), V(running), V(stopped)...
"""

    # Database connection options (argument spec: module_utils/patroni.py postgres_argument_spec).
    POSTGRES = r"""
options:
  login_host:
    description:
      - Host of the PostgreSQL server to read replication state from. Without O(login_host) and
        O(login_unix_socket) the module reads only Patroni's REST API.
    type: str
  login_port:
    description:
      - Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description:
      - Database user; it needs C(pg_monitor) (or superuser) to see every column of C(pg_stat_replication).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user).
    type: str
  login_db:
    description:
      - Database to connect to.
    type: str
    default: postgres
  login_unix_socket:
    description:
      - Directory of the server's Unix socket (for example V(/var/run/postgresql)); used instead of O(login_host).
    type: str
  ssl_mode:
    description:
      - libpq C(sslmode) of the connection.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA bundle (libpq C(sslrootcert)) that signed the server certificate, for O(ssl_mode=verify-ca)/V(verify-full).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the database connection.
    type: int
    default: 5
requirements:
  - psycopg 3 (python3-psycopg on Debian 12) when a database connection is given
"""
