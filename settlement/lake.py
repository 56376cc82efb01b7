"""The tables for people: open any of them by name, where the settings say they live.

pandas through `deltalake` (Delta's Rust reader: no JVM, a table opens in well under a second) is
the default for the operator's commands and the notebooks; `spark` gives the same table as a
Spark DataFrame for what outgrows one machine's memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from settlement.config import Settings, StorageSettings, load_settings
from settlement.tables import TABLES

Filters = Sequence[tuple[str, str, object]]


class Lake:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.storage: StorageSettings = self.settings.storage

    def location(self, name: str) -> str:
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; the tables are {', '.join(TABLES)}")
        # deltalake names S3 `s3://`, where Hadoop (Spark) says `s3a://`.
        return self.storage.table(name).replace("s3a://", "s3://", 1)

    def pandas(self, name: str, filters: Filters | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The table (or the rows matching `filters`, e.g. `[("approval_date", "=", day)]`) as pandas."""
        try:
            table = DeltaTable(self.location(name))
        except TableNotFoundError:
            raise FileNotFoundError(f"table {name} does not exist at {self.location(name)}; has the job run?") from None
        return table.to_pandas(filters=list(filters) if filters else None, columns=list(columns) if columns else None)

    def spark(self, name: str, spark=None):
        """The table as a Spark DataFrame (a session from the settings if none is given)."""
        if spark is None:
            from settlement.session import spark_session

            spark = spark_session(self.settings.spark, "settlement-notebook")
        return spark.read.format("delta").load(self.storage.table(name))
