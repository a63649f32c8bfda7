"""Make `ansible_collections.apiplatform.ha` importable from the checkout (make collections links it)."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".collections"
if not (COLLECTIONS / "ansible_collections" / "apiplatform" / "ha").exists():
    raise SystemExit("tests need the collection links: run `make collections` first")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
