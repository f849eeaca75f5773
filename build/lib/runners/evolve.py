"""Ray job entry point: ``python -m runners.evolve [config.yaml] [key=value ...] [--resume runs/<name>]``.

Same behaviour as ``evohebb evolve``; on a cluster (``ray job submit``) Ray sets RAY_ADDRESS and the run joins it.
"""

import sys

from evohebb.cli import main

if __name__ == "__main__":
    sys.exit(main(["evolve", *sys.argv[1:]]))
