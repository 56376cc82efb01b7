"""Print what the settlement job made: `python jobs/summary.py`."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]


from settlement.config import ConfigError, load_settings
from settlement.session import spark_session
from settlement.summary import print_summary


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"summary: {error}", file=sys.stderr)
        return 2
    print_summary(spark_session(settings.spark, "settlement-summary"), settings.storage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
