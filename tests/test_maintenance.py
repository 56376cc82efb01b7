"""Maintenance on the stream's tables: fewer files, the same rows, and the stream goes on."""

from __future__ import annotations

import time

from settlement import reference
from settlement.broker import create_topics
from settlement.maintenance import data_files
from settlement.maintenance_job import main
from settlement.sample import generate, produce
from settlement.tables import PAYMENT_LOG, SETTLEMENT_BASE, TABLES, MerchantRow
from tests import harness
from tests.invariants import broken, invariants
from tests.reference import Expected, read_csv

# One partition: the micro-batches then cut the topic in arrival order, as tests/reference.py reads it.
PARTITIONS = 1


def test_maintenance_compacts_the_tables_and_changes_no_row(spark, settings):
    small_batches = settings.kafka.model_copy(update={"max_offsets_per_trigger": 300})
    settings = settings.model_copy(update={"kafka": small_batches})
    kafka = settings.kafka
    create_topics(kafka, {kafka.payment_topic: PARTITIONS, kafka.statistics_topic: 1})
    reference.load(spark, settings)
    merchants, rules = read_csv(settings.reference.merchants), read_csv(settings.reference.payout_rules)
    merchant_rows = [MerchantRow(**m) for m in merchants]
    first = produce(generate(700, merchant_rows, partitions=PARTITIONS, seed=61, id_prefix="A"), kafka)
    harness.run_job(spark, settings)  # small batches: many small files
    before = harness.table_contents(spark, settings)
    files = {name: data_files(spark, settings.storage, name) for name in (PAYMENT_LOG, SETTLEMENT_BASE)}

    clock = time.monotonic()
    code, out, err = harness.command(main, settings)
    print(f"maintenance took {time.monotonic() - clock:.1f} s")
    assert code == 0, err
    assert harness.table_contents(spark, settings) == before
    for name, count in files.items():
        assert data_files(spark, settings.storage, name) < count, name
        assert f"maintain: {name}: {count:,} → " in out
    assert out.splitlines()[-1].startswith("maintain: 11 tables, ")

    # The stream goes on over the compacted tables.
    second = produce(generate(200, merchant_rows, partitions=PARTITIONS, seed=62, id_prefix="B"), kafka)
    expected = Expected()
    expected.process(first, merchants, rules)
    expected.process(second, merchants, rules)
    harness.run_job(spark, settings)
    assert broken(invariants(spark, settings, expected, first + second, PARTITIONS)) == {}


def test_an_unknown_table_is_one_line_and_exit_2(settings):
    code, _, err = harness.command(main, settings, "--tables", "settlement_base,nope")
    assert code == 2
    assert err.strip() == f"maintain: no table nope; the tables are {', '.join(TABLES)}"
