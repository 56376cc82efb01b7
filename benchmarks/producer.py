"""`python -m benchmarks.producer`: payments at a fixed rate, stamped with the time they are sent.

Run in a process of its own, so the job's driver does not share its interpreter. It generates
its first payments, prints `ready`, waits for a line on stdin, then sends `--rate` records a
second for `--seconds` and prints how many it sent. Payments are generated a chunk at a time as
they are sent: an hour at 5,000 a second is 18 million.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator

from confluent_kafka import Producer

from settlement.config import load_settings
from settlement.reference import rows_from_csv
from settlement.sample import SampleRecord, generate
from settlement.tables import MerchantRow

TICK = 0.05  # seconds between bursts: small enough that arrivals are even
CHUNK = 100_000


def payments(merchants: list[MerchantRow], seed: int) -> Iterator[SampleRecord]:
    """Distinct payments with their redeliveries and malformed records (no FINISH markers), without end."""
    for chunk in itertools.count():
        for record in generate(CHUNK, merchants, seed=seed + chunk, id_prefix=f"L{seed}-{chunk}-"):
            if record.partition is None:
                yield record


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--topic", required=True)
    arguments.add_argument("--rate", type=int, required=True)
    arguments.add_argument("--seconds", type=float, required=True)
    arguments.add_argument("--seed", type=int, default=13)
    args = arguments.parse_args()
    settings = load_settings()
    merchants = rows_from_csv(settings.reference.merchants, MerchantRow)
    wanted = int(args.rate * args.seconds)
    stream = payments(merchants, args.seed)
    records = itertools.chain([next(stream)], stream)  # the first chunk generated before `ready`
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "linger.ms": 5,
            "queue.buffering.max.messages": 2_000_000,
            **settings.kafka.client_options,
        }
    )
    print("ready", flush=True)
    sys.stdin.readline()
    started, sent = time.monotonic(), 0
    while sent < wanted:
        due = min(int((time.monotonic() - started) * args.rate), wanted)
        for record in itertools.islice(records, max(0, due - sent)):
            producer.produce(
                args.topic, key=record.key, value=record.value.encode() if record.value is not None else None
            )
        sent = max(sent, due)
        producer.poll(0)
        time.sleep(TICK)
    producer.flush(60)
    print(f"sent {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
