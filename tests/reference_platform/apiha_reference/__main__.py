"""Entry point of the apiplatform.ha REFERENCE PLATFORM (stand-in services): ``python3 -m apiha_reference SERVICE``."""

import sys

from .runtime import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
