"""Reference data (the GlobalKTable of the original design): merchants and payout rules.

Operators keep them as CSV files in `conf/`; `load` validates every row against its model and
replaces the Delta table in one commit. The stream's batches join the tables' latest versions
(`Latest`), so a change applies to the records processed after it lands, without a restart.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel, ValidationError
from pyspark.sql import DataFrame, SparkSession

from settlement.config import ConfigError, Settings, StorageSettings
from settlement.tables import (
    MERCHANTS,
    PAYOUT_RULES,
    TABLES,
    MerchantRow,
    PayoutRuleRow,
    frame,
    snapshot,
    version,
)

# What identifies a row of each reference file: a merchant listed twice would classify its payments
# twice, and two rules of one id would leave the contract's precedence without its last word.
KEYS: dict[type[BaseModel], str] = {MerchantRow: "merchant_number", PayoutRuleRow: "rule_id"}


def rows_from_csv(path: Path, model: type[BaseModel]) -> list[BaseModel]:
    """The file's rows, each valid, no two with the same key."""
    key = KEYS[model]
    if not path.is_file():
        raise ConfigError(f"reference file {path} does not exist")
    rows: list[BaseModel] = []
    lines: dict[object, int] = {}
    with path.open(newline="", encoding="utf-8") as file:
        for line, record in enumerate(csv.DictReader(file), start=2):
            try:
                row = model.model_validate({k: v for k, v in record.items() if v not in ("", None)})
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first["loc"])
                raise ConfigError(f"{path}:{line}: {field}: {first['msg']}") from None
            value = getattr(row, key)
            if value in lines:
                raise ConfigError(f"{path}:{line}: {key}: {value} is already on line {lines[value]}")
            lines[value] = line
            rows.append(row)
    return rows


def write(spark: SparkSession, storage: StorageSettings, name: str, rows: list[BaseModel]) -> None:
    frame(spark, TABLES[name][0], rows).write.format("delta").mode("overwrite").save(storage.table(name))


def load(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Replace both reference tables from the CSV files; returns the row counts."""
    merchants = rows_from_csv(settings.reference.merchants, MerchantRow)
    rules = rows_from_csv(settings.reference.payout_rules, PayoutRuleRow)
    write(spark, settings.storage, MERCHANTS, merchants)
    write(spark, settings.storage, PAYOUT_RULES, rules)
    return {MERCHANTS: len(merchants), PAYOUT_RULES: len(rules)}


class Latest:
    """The reference tables as a stream's batches join them: each table read at its latest version
    and kept in Spark's cache until a batch finds a newer one. A batch then costs each table a
    listing of its log, where a read would also plan the table's scan (a Spark job over its files'
    statistics) before the base's insert could begin."""

    def __init__(self, storage: StorageSettings) -> None:
        self.storage = storage
        self._held: dict[str, tuple[int, DataFrame]] = {}

    def merchants(self, spark: SparkSession) -> DataFrame:
        return self._table(spark, MERCHANTS)

    def payout_rules(self, spark: SparkSession) -> DataFrame:
        return self._table(spark, PAYOUT_RULES)

    def _table(self, spark: SparkSession, name: str) -> DataFrame:
        latest = version(spark, self.storage, name)
        held = self._held.get(name)
        if held is None or held[0] != latest:
            if held is not None:
                held[1].unpersist()
            held = self._held[name] = (latest, snapshot(spark, self.storage, name, at=latest).persist())
        return held[1]
