"""Load merchants and payout rules from conf/ into their Delta tables: `spark-submit jobs/load_reference.py`."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]


from settlement.config import ConfigError, load_settings
from settlement.reference import load
from settlement.session import spark_session
from settlement.tables import create_tables


def main() -> int:
    try:
        settings = load_settings()
        spark = spark_session(settings.spark, "settlement-reference")
        create_tables(spark, settings.storage)
        counts = load(spark, settings)
    except ConfigError as error:
        print(f"load_reference: {error}", file=sys.stderr)
        return 2
    print("reference: " + ", ".join(f"{count} {name}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
