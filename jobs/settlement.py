"""Entry point for spark-submit: the logic lives in the settlement package."""

import sys

from settlement.job import main

if __name__ == "__main__":
    sys.exit(main())
