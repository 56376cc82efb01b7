"""What a backfill processes: a range of approval dates, or of the payment topic's offsets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from settlement import broker, checkpoint
from settlement.backfill import BackfillError
from settlement.config import Settings


@dataclass(frozen=True)
class Dates:
    """Approval dates, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"--to {self.last} is before --from {self.first}")

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


@dataclass(frozen=True)
class Offsets:
    """Offsets of a topic: per partition, from `start` up to `end` (excluded)."""

    topic: str
    ranges: dict[int, tuple[int, int]]

    def records(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    def slices(self, size: int) -> list[Offsets]:
        """About `size` records each, every partition cut at the same fractions (so in arrival order)."""
        count = max(1, -(-self.records() // size))
        cuts = {
            p: [start + (end - start) * n // count for n in range(count + 1)] for p, (start, end) in self.ranges.items()
        }
        pieces = [
            Offsets(self.topic, {p: (c[n], c[n + 1]) for p, c in cuts.items() if c[n + 1] > c[n]}) for n in range(count)
        ]
        return [piece for piece in pieces if piece.ranges]

    def predicate(self, alias: str) -> str:
        """The records of these ranges, as a condition Delta can skip files with."""
        ranges = " OR ".join(
            f"({alias}.partition = {p} AND {alias}.offset >= {start} AND {alias}.offset < {end})"
            for p, (start, end) in sorted(self.ranges.items())
        )
        return f"{alias}.topic = '{self.topic}' AND ({ranges or 'false'})"

    def __str__(self) -> str:
        return " ".join(f"{p}:{start}-{end}" for p, (start, end) in sorted(self.ranges.items()))


def topic_offsets(
    spark: SparkSession,
    settings: Settings,
    since: datetime | None = None,
    until: datetime | None = None,
    wanted: dict[int, tuple[int, int]] | None = None,
) -> tuple[Offsets, list[str]]:
    """The offsets to read for a range of Kafka timestamps or of offsets, and what was left out
    and why: records retention has deleted, and records the stream reads itself."""
    topic, notes = settings.kafka.payment_topic, []
    held = broker.offsets(settings.kafka, topic)
    if wanted is None:
        starts, ends = broker.offsets(settings.kafka, topic, since), broker.offsets(settings.kafka, topic, until)
        wanted = {p: (starts[p][0], ends[p][0]) for p in held}
    stream = checkpoint.next_offsets(spark, settings.storage, topic) or {}
    ranges = {}
    for partition, (start, end) in sorted(wanted.items()):
        if partition not in held:
            raise BackfillError(f"topic {topic!r} has no partition {partition}")
        low, high = held[partition]
        if start < low:
            notes.append(f"partition {partition}: offsets {start}-{low} are gone (retention); use `log` for them")
        if partition in stream and end > stream[partition]:
            notes.append(f"partition {partition}: offsets from {stream[partition]} are the running stream's to read")
        start, end = max(start, low), min(end, high, stream.get(partition, end))
        if end > start:
            ranges[partition] = (start, end)
    return Offsets(topic, ranges), notes


def record_date(message: Column) -> Column:
    """The approval date of a payment, the closing date of a FINISH, and for a record that failed
    validation (it has no date of its own) the date it reached Kafka."""
    return (
        F.when(message.error.isNotNull(), F.to_date("kafka_timestamp"))
        .when(message.action == "FINISH", message.closing_date)
        .otherwise(F.to_date(message.payment_date))
    )
