"""`spark-submit jobs/maintain.py [--tables T,...] [--no-vacuum]`: compact and VACUUM the tables.

Safe beside the running stream; schedule it (cron, Airflow) every hour or so, or as often as the
file counts it prints grow between runs. Exit codes as `settlement.exits` says.
"""

from __future__ import annotations

import logging
import sys
import time

from settlement.arguments import OneLineParser
from settlement.config import load_settings
from settlement.exits import CannotRun, Exit, report
from settlement.maintenance import maintain
from settlement.session import spark_session
from settlement.tables import TABLES, create_tables

PROG = "maintain"


def table_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if unknown := [name for name in names if name not in TABLES]:
        raise ValueError(f"no table {', '.join(unknown)}; the tables are {', '.join(TABLES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default=",".join(TABLES), metavar="T,...", help="the tables (default: all)")
    parser.add_argument("--no-vacuum", action="store_true", help="compact only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        names = table_names(args.tables)
    except ValueError as error:
        return report(PROG, CannotRun(error))
    except CannotRun as error:
        return report(PROG, error)
    started = time.monotonic()
    spark = spark_session(settings.spark, "settlement-maintenance")
    try:
        create_tables(spark, settings.storage)
        retention = None if args.no_vacuum else settings.maintenance.vacuum_retention_hours
        done = maintain(spark, settings.storage, retention, names)
    except (Exception, KeyboardInterrupt) as error:
        return report(PROG, error)
    for table in done:
        print(f"{PROG}: {table}")
    before, after = sum(t.files_before for t in done), sum(t.files_after for t in done)
    vacuumed = "no VACUUM" if retention is None else f"VACUUM keeping {retention} h"
    print(
        f"{PROG}: {len(done)} tables, {before:,} → {after:,} files, {vacuumed}, in {time.monotonic() - started:.0f} s"
    )
    return Exit.DONE
