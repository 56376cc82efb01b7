"""The tables for people: open any of them by name, where the settings say they live.

`pandas` reads through `deltalake` by default (Delta's Rust reader: no JVM, a table opens in well
under a second), or through Spark when the settings say `[lake] engine = "spark"` (for tables
whose filtered rows no longer fit one machine: the filters then run on the cluster); either way
the rows come back as the same pandas frame. `spark` gives the table as a Spark DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from pydantic import BaseModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import TimestampType

from settlement.config import Settings, StorageSettings, load_settings
from settlement.schema import spark_schema
from settlement.tables import DAY_CLOSE, TABLES, frame

Filters = Sequence[tuple[str, str, object]]


class TableMissing(FileNotFoundError):
    """A table the job has not made yet (it makes its tables on its first run)."""


class Lake:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.storage: StorageSettings = self.settings.storage

    def location(self, name: str) -> str:
        # deltalake names S3 `s3://`, where Hadoop (Spark) says `s3a://`.
        return self._spark_location(name).replace("s3a://", "s3://", 1)

    def _spark_location(self, name: str) -> str:
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; the tables are {', '.join(TABLES)}")
        return self.storage.table(name)

    def _missing(self, name: str) -> TableMissing:
        return TableMissing(f"table {name} does not exist at {self.location(name)}; has the job run?")

    def pandas(
        self, name: str, filters: Filters | None = None, columns: Sequence[str] | None = None, missing_ok: bool = False
    ) -> pd.DataFrame:
        """The table (or the rows matching `filters`, e.g. `[("approval_date", "=", day)]`) as pandas.
        A table the job has not made yet is `TableMissing`, or no rows with `missing_ok`."""
        try:
            if self.settings.lake.engine == "spark":
                return self._pandas_by_spark(name, filters or (), columns)
            return self._pandas_by_deltalake(name, filters or (), columns)
        except TableMissing:
            if not missing_ok:
                raise
            empty = to_arrow_schema(spark_schema(TABLES[name][0]), timezone="UTC").empty_table().to_pandas()
            return empty[list(columns)] if columns else empty

    def _pandas_by_deltalake(self, name: str, filters: Filters, columns: Sequence[str] | None) -> pd.DataFrame:
        try:
            table = DeltaTable(self.location(name))
        except TableNotFoundError:
            raise self._missing(name) from None
        return table.to_pandas(filters=list(filters) or None, columns=list(columns) if columns else None)

    def recent_day_close(self, days: int = 7, now: datetime | None = None) -> pd.DataFrame:
        """`day_close` rows of the last `days` closing dates before `now` (by default, now; dates in
        the job's time zone); none before the job's first run."""
        since = self.settings.spark.today(now) - timedelta(days=days)
        return self.pandas(DAY_CLOSE, filters=[("closing_date", ">=", since)], missing_ok=True)

    def file_count(self, name: str) -> int:
        """The data files of the table's current version."""
        try:
            return len(DeltaTable(self.location(name)).file_uris())
        except TableNotFoundError:
            raise self._missing(name) from None

    def _pandas_by_spark(self, name: str, filters: Filters, columns: Sequence[str] | None) -> pd.DataFrame:
        rows = self.spark(name)
        for column, op, value in filters:
            rows = rows.where(_condition(F.col(column), op, value))
        if columns:
            rows = rows.select(*columns)
        frame: pd.DataFrame = rows.toPandas()
        # Spark hands timestamps over as local wall-clock times; deltalake, as UTC instants.
        zone = self.settings.spark.time_zone
        for field in rows.schema:
            if isinstance(field.dataType, TimestampType):
                frame[field.name] = pd.to_datetime(frame[field.name]).dt.tz_localize(zone).dt.tz_convert("UTC")
        return frame

    def append(self, name: str, rows: Sequence[BaseModel]) -> None:
        """Add rows of the table's model (a few: an operator's decision, not a data load)."""
        model = TABLES[name][0]
        if self.settings.lake.engine == "spark":
            spark = self.spark(name).sparkSession
            frame(spark, model, list(rows)).write.format("delta").mode("append").save(self._spark_location(name))
            return
        columns = [row.model_dump() for row in rows]
        table = pa.Table.from_pylist(columns, schema=to_arrow_schema(spark_schema(model), timezone="UTC"))
        try:
            target = DeltaTable(self.location(name))  # the job creates its tables; this never does
        except TableNotFoundError:
            raise self._missing(name) from None
        write_deltalake(target, table, mode="append")

    def spark(self, name: str, spark: SparkSession | None = None) -> DataFrame:
        """The table as a Spark DataFrame (a session from the settings if none is given)."""
        if spark is None:
            from settlement.session import spark_session

            spark = spark_session(self.settings.spark, "settlement-notebook")
        try:
            return spark.read.format("delta").load(self._spark_location(name))
        except Exception as error:
            if "DELTA_MISSING_DELTA_TABLE" in str(error) or "PATH_NOT_FOUND" in str(error):
                raise self._missing(name) from None
            raise


def _condition(column: Column, op: str, value: object) -> Column:
    """A deltalake filter triple, as a Spark condition."""
    comparisons = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
        "in": lambda values: column.isin(list(values)),
        "not in": lambda values: ~column.isin(list(values)),
    }
    return comparisons[op](value)
