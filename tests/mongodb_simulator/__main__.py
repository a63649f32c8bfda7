"""Entry point: python3 -m mongodb_simulator --config /etc/mongod.conf (apiplatform.ha replica-set simulator)."""

import sys

from .main import main

sys.exit(main())
