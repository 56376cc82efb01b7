"""`spark-submit jobs/settlement.py [--available-now]`: run the settlement stream."""

from __future__ import annotations

import sys

from pyspark.errors import StreamingQueryException

from settlement import broker, logs, metrics, topology
from settlement.arguments import OneLineParser, one_line
from settlement.config import load_settings
from settlement.exits import CannotRun, Exit, Failed, report
from settlement.session import spark_session

PROG = "settlement"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=PROG, description="Turn the payment topic into settlement data.")
    parser.add_argument("--available-now", action="store_true", help="process everything in the topic now, then exit 0")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(settings.monitoring.log_format)
        for topic in (settings.kafka.payment_topic, settings.kafka.statistics_topic):
            broker.partition_count(settings.kafka, topic)
    except (CannotRun, Failed) as error:
        return report(PROG, error)
    spark = spark_session(settings.spark)
    try:
        settlement = topology.Settlement(spark, settings, metrics.serve(spark, settings))
        query = topology.start(spark, settings, available_now=args.available_now, settlement=settlement)
    except CannotRun as error:
        return report(PROG, error)
    try:
        query.awaitTermination()
    except StreamingQueryException as error:
        failure = settlement.failure.line(settings.kafka.payment_topic) if settlement.failure else one_line(error)
        print(f"{PROG}: the stream stopped: {failure}", file=sys.stderr)
        return Exit.FAILED
    except KeyboardInterrupt:
        query.stop()
        return Exit.INTERRUPTED
    return Exit.DONE
