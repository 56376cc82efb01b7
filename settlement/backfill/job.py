"""`spark-submit jobs/backfill.py <mode> ...`: process a range of the past again, in batch mode.

    rederive --from 2025-05-19 [--to 2025-05-20]   base rows of these approval dates, with today's reference data
    log      --from 2025-05-19 [--to 2025-05-20]   payment_log records of these dates (the topic's retention passed)
    topic    --from 2025-05-19T00:00 --to 2025-05-20T00:00, or --offsets 0:1200-5000,1:1100-4800
    abandon  RUN_ID                                 mark a run that died without a word as abandoned

Dates are approval dates, both ends included; timestamps are Kafka timestamps, `--to` excluded, in
the job's time zone unless they carry an offset. `--dry-run` prints what would change and writes
nothing. Exit codes as `settlement.exits` says (another backfill running is a failure, 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from tqdm import tqdm

from settlement import broker
from settlement.arguments import OneLineParser, iso_date, one_line
from settlement.backfill.lock import abandon, claim
from settlement.backfill.report import summary_line, table
from settlement.backfill.run import Backfill, Unit
from settlement.backfill.scope import Dates, topic_offsets
from settlement.config import Settings, load_settings
from settlement.exits import CannotRun, Exit, report
from settlement.session import spark_session
from settlement.tables import BackfillStatus

PROG = "backfill"
SLICE = 200_000


def offset_ranges(text: str) -> dict[int, tuple[int, int]]:
    """`0:1200-5000,1:1100-4800` (partition:first-end, the end excluded)."""
    ranges: dict[int, tuple[int, int]] = {}
    for part in text.split(","):
        try:
            partition_text, span = part.strip().split(":")
            partition, (start, end) = int(partition_text), (int(n) for n in span.split("-"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not partition:first-end, e.g. 0:1200-5000") from None
        if partition < 0 or not 0 <= start <= end:
            raise argparse.ArgumentTypeError(f"{part.strip()!r}: want partition >= 0 and 0 <= first <= end")
        ranges[partition] = (start, end)
    return ranges


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a timestamp like 2025-05-19T00:00") from None


def parser() -> OneLineParser:
    main = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    modes = main.add_subparsers(dest="mode", required=True, metavar="{rederive,log,topic,abandon}")
    for mode, what in (
        ("rederive", "re-derive classification, payout rule and dates of base rows with today's reference data"),
        ("log", "process the payment_log records of these dates again"),
    ):
        sub = modes.add_parser(mode, help=what, description=what)
        sub.add_argument(
            "--from", dest="first", type=iso_date, required=True, metavar="DATE", help="first approval date"
        )
        sub.add_argument(
            "--to", dest="last", type=iso_date, metavar="DATE", help="last approval date (default: --from)"
        )
        sub.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    topic = modes.add_parser(
        "topic",
        help="process a range of the payment topic again",
        description="process a range of the payment topic again",
    )
    topic.add_argument("--from", dest="since", type=_instant, metavar="TIMESTAMP", help="first Kafka timestamp")
    topic.add_argument("--to", dest="until", type=_instant, metavar="TIMESTAMP", help="Kafka timestamp to stop before")
    topic.add_argument("--offsets", type=offset_ranges, metavar="P:FIRST-END,...", help="offsets, the ends excluded")
    topic.add_argument(
        "--slice", type=int, default=SLICE, metavar="RECORDS", help=f"records per unit (default {SLICE:,})"
    )
    topic.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    abandon = modes.add_parser("abandon", help="mark a backfill that died as abandoned, which frees the lock")
    abandon.add_argument("run_id")
    return main


def _with_zone(moment: datetime, settings: Settings) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.spark.zone)


def progress(units: list[Unit], what: str) -> Iterator[Unit]:
    """A bar on a terminal; plain lines (a scheduler's log) otherwise."""
    if sys.stderr.isatty():
        bar = tqdm(units, desc=PROG, unit=what, file=sys.stderr)
        for unit in bar:
            bar.set_postfix_str(unit.label)
            yield unit
        return
    for n, unit in enumerate(units, start=1):
        started = time.monotonic()
        yield unit
        print(
            f"{PROG}: {unit.label} done ({n}/{len(units)}, {time.monotonic() - started:.1f} s)",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    started = time.monotonic()
    try:
        settings = load_settings()
        if args.mode in ("rederive", "log"):
            dates = Dates(args.first, args.last or args.first)
        elif args.mode == "topic" and (args.offsets is None) == (args.since is None or args.until is None):
            raise ValueError("topic takes --from and --to (Kafka timestamps), or --offsets")
    except ValueError as error:
        return report(PROG, CannotRun(error))
    except CannotRun as error:
        return report(PROG, error)
    spark = spark_session(settings.spark, f"settlement-backfill-{args.mode}")
    try:
        if args.mode == "abandon":
            abandon(spark, settings.storage, args.run_id)
            print(f"{PROG}: run {args.run_id} marked {BackfillStatus.ABANDONED.value}")
            return Exit.DONE
        broker.partition_count(settings.kafka, settings.kafka.statistics_topic)
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        run = Backfill(spark, settings, run_id, args.mode, args.dry_run)
        if args.mode == "topic":
            offsets, notes = topic_offsets(
                spark,
                settings,
                since=args.since and _with_zone(args.since, settings),
                until=args.until and _with_zone(args.until, settings),
                wanted=args.offsets,
            )
            run.summary.notes.extend(notes)
            scope = f"{offsets.topic} {str(offsets) or 'nothing'}"
            units, what = run.topic_units(offsets, args.slice), "slice"
        else:
            units, what = (run.rederive_units(dates) if args.mode == "rederive" else run.log_units(dates)), "date"
            scope = str(dates)
        lock = None
        if not args.dry_run:
            lease = settings.backfill.lease_seconds
            lock = claim(spark, settings.storage, run_id, args.mode, scope, lease)
            for line in lock.took_over:
                print(f"{PROG}: {line}", file=sys.stderr, flush=True)
        try:
            for unit in progress(units, what):
                if lock is not None:
                    lock.check()
                unit.run()
        except BaseException as error:
            if lock is not None:
                lock.release(BackfillStatus.FAILED, one_line(error))
            raise
        line = summary_line(args.mode, scope, run.summary, args.dry_run, time.monotonic() - started, run_id)
        if lock is not None:
            lock.release(BackfillStatus.DONE, line)
    except (Exception, KeyboardInterrupt) as error:
        return report(PROG, error)
    for note in run.summary.notes:
        print(f"note: {note}")
    print(table(run.summary))
    print(line)
    return Exit.DONE
