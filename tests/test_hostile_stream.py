"""Hostile bytes through the real broker, Spark and Delta: quarantined, kept as sent, and the stream
goes on, after a restart, a replay and a backfill too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from settlement import cli, reference
from settlement.broker import create_topics
from settlement.records import as_logged
from settlement.sample import SampleRecord, generate, produce
from settlement.tables import BACKFILL_RUNS, PAYMENT_LOG, QUARANTINE, TABLES, MerchantRow, read
from settlement.validation import PARSED, _parse
from tests import harness
from tests import strategies as s
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

PARTITIONS = 2
# The stream costs seconds an example: a few with `make test`, more with `make fuzz`.
STREAM_EXAMPLES = min(20, max(2, hypothesis_settings.default.max_examples // 100))


def reference_data(settings) -> tuple[list[dict], list[dict]]:
    return read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)


def payment_bytes(payment_id: str, merchant: bytes = b"merchant-0001") -> bytes:
    data = {
        "paymentId": payment_id,
        "paymentType": "ONLINE",
        "amount": 5000,
        "merchantNumber": "MERCHANT",
        "paymentDate": "2025-05-19T10:00:00",
        "paymentActionType": "PAYMENT",
        "paymentMethodType": "CARD",
    }
    return json.dumps(s.message(data)).encode().replace(b"MERCHANT", merchant)


def not_utf8_records(prefix: str, arrival: datetime) -> list[SampleRecord]:
    """A merchant number with `\\xed\\xb3\\xbf` in it, a key that is not UTF-8, and both at once."""
    return [
        SampleRecord(
            f"{prefix}-value",
            payment_bytes(f"{prefix}-value", b"merchant-\xed\xb3\xbf"),
            arrival,
            malformed="value not UTF-8",
        ),
        SampleRecord(b"\xff\xfe" + prefix.encode(), payment_bytes(f"{prefix}-key"), arrival, malformed="key not UTF-8"),
        SampleRecord(b"\xc0\x80", b"\x80" + payment_bytes(f"{prefix}-both"), arrival, malformed="both not UTF-8"),
    ]


def other_hostile_records(prefix: str, arrival: datetime) -> list[SampleRecord]:
    """What else a producer can send: a tombstone, deep nesting, a BOM, NaN, trailing garbage, and a
    valid payment of 900 KB (accepted: the contract ignores fields it does not name)."""
    big = json.loads(payment_bytes(f"{prefix}-900KB"))
    big["data"]["notes"] = "x" * 900_000
    return [
        SampleRecord(f"{prefix}-tombstone", None, arrival, malformed="tombstone"),
        SampleRecord(None, b"[" * 50_000 + b"]" * 50_000, arrival, malformed="deep nesting"),
        SampleRecord(f"{prefix}-bom", b"\xef\xbb\xbf" + payment_bytes(f"{prefix}-bom"), arrival, malformed="BOM"),
        SampleRecord(None, b"NaN", arrival, malformed="NaN"),
        SampleRecord(
            f"{prefix}-trailing",
            payment_bytes(f"{prefix}-trailing") + b"}garbage",
            arrival,
            malformed="trailing garbage",
        ),
        SampleRecord(f"{prefix}-900KB", json.dumps(big), arrival),
    ]


def kept_as_sent(spark, settings, produced: list) -> None:
    """Every record's key and value in payment_log: the bytes of those that are not UTF-8, the text
    of the others; the quarantine keeps the same."""
    sent = {(p.partition, p.offset): p.record for p in produced}
    for name in (PAYMENT_LOG, QUARANTINE):
        for row in read(spark, settings.storage, name).collect():
            record = sent[(row.partition, row.offset)]
            for column, raw in (("key", record.key), ("value", record.value)):
                raw = raw.encode() if isinstance(raw, str) else raw
                if raw is not None and s.not_utf8(raw):
                    assert bytes(row[f"{column}_bytes"]) == raw and "\ufffd" in row[column], (name, row)
                else:
                    assert row[f"{column}_bytes"] is None, (name, row)
                    assert row[column] == (None if raw is None else raw.decode()), (name, row)


def test_records_that_are_not_utf8_are_quarantined_and_the_stream_goes_on(spark, settings, contract_examples):
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = reference_data(settings)
    merchant_rows = [MerchantRow(**m) for m in merchants]
    arrival = datetime(2025, 5, 19, 11, 0, tzinfo=UTC)

    first = produce(
        harness.contract_records(contract_examples)
        + not_utf8_records("A", arrival)
        + other_hostile_records("A", arrival)
        + generate(1_000, merchant_rows, partitions=PARTITIONS, seed=31, id_prefix="A"),
        kafka,
    )
    expected = Expected()
    expected.process(first, merchants, rules)
    harness.run_job(spark, settings)
    assert broken(invariants(spark, settings, expected, first, PARTITIONS)) == {}
    kept_as_sent(spark, settings, first)
    errors = {(row.partition, row.offset): row.error for row in read(spark, settings.storage, QUARANTINE).collect()}
    reasons = {
        p.record.malformed: errors[(p.partition, p.offset)] for p in first if "UTF-8" in (p.record.malformed or "")
    }
    at = payment_bytes("A-value", b"merchant-\xed\xb3\xbf").index(b"\xed")
    assert reasons == {
        "value not UTF-8": f"value: not UTF-8 (byte 0xED at offset {at}: invalid continuation byte)",
        "key not UTF-8": "key: not UTF-8 (byte 0xFF at offset 0: invalid start byte)",
        "both not UTF-8": "key: not UTF-8 (byte 0xC0 at offset 0: invalid start byte); "
        "value: not UTF-8 (byte 0x80 at offset 0: invalid start byte)",
    }

    # Started again with more of them: the stream goes on where it stopped.
    second = produce(
        not_utf8_records("B", arrival + timedelta(hours=1))
        + generate(300, merchant_rows, partitions=PARTITIONS, seed=32, id_prefix="B"),
        kafka,
    )
    expected.process(second, merchants, rules)
    harness.run_job(spark, settings)
    assert broken(invariants(spark, settings, expected, first + second, PARTITIONS)) == {}
    kept_as_sent(spark, settings, first + second)

    # A crash before the last batch's commit: its replay writes nothing twice.
    before = harness.table_contents(spark, settings)
    commits = Path(settings.storage.checkpoint, "commits")
    last = max(int(path.name) for path in commits.iterdir() if path.name.isdigit())
    for name in (str(last), f".{last}.crc"):
        (commits / name).unlink(missing_ok=True)
    harness.run_job(spark, settings)
    assert harness.table_contents(spark, settings) == before

    # The backfill reads the same bytes, from the topic and from the log, and finds nothing new.
    for args in (
        ("topic", "--offsets", ",".join(f"{p}:0-100000" for p in range(PARTITIONS))),
        ("log", "--from", "2025-05-19"),
    ):
        code, out, err = harness.backfill(settings, *args)
        assert code == 0, err
        assert "0 newly quarantined" in out.splitlines()[-1]
    unchanged = [name for name in TABLES if name != BACKFILL_RUNS]
    assert harness.table_contents(spark, settings, unchanged) == {name: before[name] for name in unchanged}

    # The operator's explain finds the record by its payment id and says why it was quarantined.
    code, out, _ = harness.command(cli.main, settings, "explain", "--payment-id", "A-value")
    assert code == 0
    assert f"quarantined: {reasons['value not UTF-8']}" in out


@hypothesis_settings(max_examples=STREAM_EXAMPLES)
@given(
    records=st.lists(st.tuples(s.keys, s.values, st.integers(0, PARTITIONS - 1)), min_size=10, max_size=60),
    redelivered=st.integers(0, 5),
)
def test_any_record_through_the_real_stream_ends_in_exactly_one_place(
    spark, broker_up, tmp_path_factory, records, redelivered
):
    settings = harness.fresh_settings(tmp_path_factory.mktemp("hostile"))
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = reference_data(settings)
    arrival = datetime(2025, 5, 19, 12, 0, tzinfo=UTC)
    records = records + records[:redelivered]
    sample = [
        SampleRecord(
            key,
            value,
            arrival + timedelta(milliseconds=n),
            partition,
            malformed=dict(zip(PARSED.fieldNames(), _parse(key, value), strict=True))["error"],
        )
        for n, (key, value, partition) in enumerate(records)
    ]
    produced = produce(sample, kafka)
    expected = Expected()
    expected.process(produced, merchants, rules)
    harness.run_job(spark, settings)
    assert broken(invariants(spark, settings, expected, produced, PARTITIONS)) == {}
    kept_as_sent(spark, settings, produced)


@hypothesis_settings(max_examples=5)
@given(st.lists(st.binary(max_size=12) | st.text(max_size=6).map(str.encode), min_size=1, max_size=300))
def test_spark_and_python_agree_on_what_is_utf8(spark, values):
    """The log's `*_bytes` columns come from Spark's check, the quarantine's reason from Python's."""
    frame = spark.createDataFrame([(n, bytearray(v)) for n, v in enumerate(values)], "n int, raw binary")
    rows = frame.select("n", *[column.alias(name) for name, column in as_logged(F.col("raw"), "value").items()])
    for row in rows.collect():
        raw = values[row.n]
        assert (row.value_bytes is not None) == s.not_utf8(raw), raw
        assert row.value.encode() == raw or row.value_bytes is not None, raw
