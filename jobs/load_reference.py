"""Load merchants and payout rules from conf/ into their Delta tables: `spark-submit jobs/load_reference.py`."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]


from settlement.arguments import OneLineParser
from settlement.config import load_settings
from settlement.exits import CannotRun, Exit, report
from settlement.reference import load
from settlement.session import spark_session
from settlement.tables import create_tables


def main() -> int:
    OneLineParser(prog="load_reference", description=__doc__).parse_args()
    try:
        settings = load_settings()
        spark = spark_session(settings.spark, "settlement-reference")
        create_tables(spark, settings.storage)
        counts = load(spark, settings)
    except CannotRun as error:
        return report("load_reference", error)
    print("reference: " + ", ".join(f"{count} {name}" for name, count in counts.items()))
    return Exit.DONE


if __name__ == "__main__":
    sys.exit(main())
