"""Entry point for spark-submit: `spark-submit jobs/maintain.py [--tables T,...] [--no-vacuum]`."""

import sys

# Python runs a script with its own folder first on the path; keep the package's name its own.
del sys.path[0]


from settlement.maintenance_job import main

if __name__ == "__main__":
    sys.exit(main())
