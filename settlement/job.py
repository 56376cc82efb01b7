"""`spark-submit jobs/settlement.py [--available-now]`: run the settlement stream."""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.errors import StreamingQueryException

from settlement import broker, topology
from settlement.arguments import one_line
from settlement.broker import BrokerError
from settlement.config import ConfigError, load_settings
from settlement.dedup import OperatorMissing
from settlement.session import spark_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="settlement", description="Turn the payment topic into settlement data.")
    parser.add_argument(
        "--available-now", action="store_true", help="process everything in the topic now, then exit 0"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        for topic in (settings.kafka.payment_topic, settings.kafka.statistics_topic):
            broker.partition_count(settings.kafka, topic)
    except ConfigError as error:
        print(f"settlement: {error}", file=sys.stderr)
        return 2
    except BrokerError as error:
        print(f"settlement: {error}", file=sys.stderr)
        return 1
    spark = spark_session(settings.spark)
    settlement = topology.Settlement(spark, settings)
    try:
        query = topology.start(spark, settings, available_now=args.available_now, settlement=settlement)
    except OperatorMissing as error:
        print(f"settlement: {error}", file=sys.stderr)
        return 2
    try:
        query.awaitTermination()
    except StreamingQueryException as error:
        failure = settlement.failure.line(settings.kafka.payment_topic) if settlement.failure else one_line(error)
        print(f"settlement: the stream stopped: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        query.stop()
        return 130
    return 0
