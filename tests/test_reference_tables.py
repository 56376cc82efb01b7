"""The reference tables as the stream joins them (`reference.Latest`): kept while a table keeps its
version, read again once it has a newer one, and a change applied to the records after it, in a
stream that goes on running."""

from __future__ import annotations

from pathlib import Path

from settlement import reference, topology
from settlement.broker import create_topics
from settlement.sample import generate, produce
from settlement.tables import MerchantRow
from tests.harness import CHANGED_MERCHANT, CHANGED_RULE, batch_ends, by_batch, change_reference
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv


def test_a_table_is_read_again_only_when_it_has_a_newer_version(spark, settings, tmp_path):
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    latest = reference.Latest(settings.storage)
    held = latest.merchants(spark)
    assert sorted(row.merchant_number for row in held.collect()) == sorted(m["merchant_number"] for m in merchants)

    # The same version: the batch joins the rows in Spark's cache, not a new read of the table.
    assert latest.merchants(spark) is held and held.is_cached

    change_reference(spark, settings, tmp_path, merchants, rules)
    changed = latest.merchants(spark)
    assert changed is not held and changed.is_cached and not held.is_cached
    assert {row.merchant_number: row.status for row in changed.collect()}[CHANGED_MERCHANT["merchant_number"]] == (
        CHANGED_MERCHANT["status"]
    )
    assert CHANGED_RULE["rule_id"] in {row.rule_id for row in latest.payout_rules(spark).collect()}


def test_a_change_applies_to_the_records_after_it_without_a_restart(spark, settings, tmp_path):
    partitions = 2
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: partitions, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    changed_merchants, changed_rules = [*merchants, CHANGED_MERCHANT], [*rules, CHANGED_RULE]
    records = sorted(
        generate(3_000, [MerchantRow(**m) for m in merchants], partitions=partitions, seed=23),
        key=lambda record: record.arrival,
    )

    running = settings.model_copy(
        update={"stream": settings.stream.model_copy(update={"trigger_interval": "1 second"})}
    )
    produced = produce(records[: len(records) // 2], kafka)
    query = topology.start(spark, running)
    try:
        query.processAllAvailable()
        change_reference(spark, settings, tmp_path, merchants, rules)
        later = produce(records[len(records) // 2 :], kafka)
        query.processAllAvailable()
    finally:
        query.stop()
    assert query.exception() is None

    # Each micro-batch as Spark cut it, with the reference data in force when it began.
    after = {(p.partition, p.offset) for p in later}
    expected, unchanged = Expected(), Expected()
    for batch in by_batch(produced + later, batch_ends(Path(settings.storage.checkpoint), kafka.payment_topic)):
        changed = any((p.partition, p.offset) in after for p in batch)
        expected.process(batch, *((changed_merchants, changed_rules) if changed else (merchants, rules)))
        unchanged.process(batch, merchants, rules)
    # The change decides some of the later payments, so a batch that joined the old tables fails below.
    assert unchanged.base != expected.base
    assert broken(invariants(spark, settings, expected, produced + later, partitions)) == {}
