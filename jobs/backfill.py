"""Entry point for spark-submit: `spark-submit jobs/backfill.py <mode> ...` (see --help)."""

import sys

# Python runs a script with its own folder first on the path; keep the package's name its own.
del sys.path[0]


from settlement.backfill.job import main

if __name__ == "__main__":
    sys.exit(main())
