"""Print what the settlement job made: `python jobs/summary.py`."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]


from settlement.arguments import OneLineParser
from settlement.config import load_settings
from settlement.exits import CannotRun, Exit, report
from settlement.session import spark_session
from settlement.summary import print_summary


def main() -> int:
    OneLineParser(prog="summary", description=__doc__).parse_args()
    try:
        settings = load_settings()
    except CannotRun as error:
        return report("summary", error)
    print_summary(spark_session(settings.spark, "settlement-summary"), settings.storage)
    return Exit.DONE


if __name__ == "__main__":
    sys.exit(main())
