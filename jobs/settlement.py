"""Entry point for spark-submit: the logic lives in the settlement package."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]


from settlement.job import main

if __name__ == "__main__":
    sys.exit(main())
