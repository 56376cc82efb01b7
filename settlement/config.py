"""Typed settings: `conf/settlement.toml`, each value overridable by an environment variable.

`SETTLEMENT_CONFIG` names another TOML file (a profile); `SETTLEMENT_<SECTION>__<KEY>` overrides
one value, e.g. `SETTLEMENT_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("conf/settlement.toml")
_DURATION = re.compile(r"^\d+ (second|minute|hour|day)s?$")


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "localhost:9092"
    payment_topic: str = "payment"
    statistics_topic: str = "payment-statistics"
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: Annotated[int, Field(gt=0)] | None = None
    # Passed through to every Kafka client, Java and librdkafka alike (security settings).
    client_options: dict[str, str] = {}
    # Only for the Java clients of Spark's Kafka source and sink: what librdkafka does not know
    # and would refuse (sasl.jaas.config).
    java_client_options: dict[str, str] = {}

    def spark_options(self) -> dict[str, str]:
        """The options of Spark's Kafka source and sink for this cluster: kafka.<client option>."""
        options = {"bootstrap.servers": self.bootstrap_servers, **self.client_options, **self.java_client_options}
        return {f"kafka.{option}": value for option, value in options.items()}


class StorageSettings(BaseModel):
    # Relative paths are resolved from the project's folder when the settings load.
    model_config = ConfigDict(validate_default=True)

    root: str = ".local/lake"
    checkpoint: str = ".local/checkpoints/settlement"

    @field_validator("root", "checkpoint")
    @classmethod
    def _absolute(cls, location: str) -> str:
        """A local relative path is taken from the project's folder (`load_settings`), once."""
        return location if "://" in location else str(Path(location).resolve())

    def table(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"


class StreamSettings(BaseModel):
    trigger_interval: str = "10 seconds"
    query_name: str = "settlement"

    @field_validator("trigger_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("expected a duration like '10 seconds' or '1 minute'")
        return value


class ReferenceSettings(BaseModel):
    model_config = ConfigDict(validate_default=True)

    merchants: Path = Path("conf/merchants.csv")
    payout_rules: Path = Path("conf/payout_rules.csv")

    @field_validator("merchants", "payout_rules")
    @classmethod
    def _absolute(cls, location: Path) -> Path:
        return location.resolve()


class SparkSettings(BaseModel):
    model_config = ConfigDict(validate_default=True)

    # Where a session made in Python runs (tests, notebooks, python -m); spark-submit's --master
    # decides for a submitted job.
    master: str = "local[2]"
    shuffle_partitions: Annotated[int, Field(gt=0)] = 4
    # Tasks that rebuild a Delta table's state from its log, before every write and read of it.
    snapshot_partitions: Annotated[int, Field(gt=0)] = 1
    # Tasks listing a table's files (VACUUM); a few per core of the cluster.
    listing_tasks: Annotated[int, Field(gt=0)] = 8
    time_zone: str = "Asia/Seoul"
    jars: str = ".local/jars"
    log_level: str = "WARN"
    # Any other Spark setting, e.g. the state store provider or object storage's spark.hadoop.fs.s3a.*.
    conf: dict[str, str] = {}

    @field_validator("jars")
    @classmethod
    def _absolute(cls, location: str) -> str:
        return str(Path(location).resolve())


class BackfillSettings(BaseModel):
    # A running backfill renews its lock every quarter of this; a lock not renewed for this long is
    # a dead run's, and the next backfill takes it over.
    lease_seconds: Annotated[int, Field(gt=0)] = 600


class MaintenanceSettings(BaseModel):
    # VACUUM keeps the files any version of this age still reads; Delta refuses less than 168 hours.
    vacuum_retention_hours: Annotated[int, Field(ge=168)] = 168


class LakeSettings(BaseModel):
    """How people read the tables (`settlement.lake.Lake`: notebooks and the operator's command)."""

    engine: Literal["deltalake", "spark"] = "deltalake"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    reference: ReferenceSettings = Field(default_factory=ReferenceSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("SETTLEMENT_CONFIG", DEFAULT_CONFIG))
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file)


class ConfigError(Exception):
    """A setting a person must fix; its message is the one line we print."""


def project_folder() -> Path:
    """The nearest folder, from the working directory up, that holds conf/settlement.toml.

    Relative settings are taken from there, so a notebook (whose kernel runs in notebooks/) or a
    command run in a subfolder sees the same tables as the job run from the project's root.
    """
    here = Path.cwd()
    return next((folder for folder in (here, *here.parents) if (folder / DEFAULT_CONFIG).is_file()), here)


def load_settings(**overrides: object) -> Settings:
    if "SETTLEMENT_CONFIG" in os.environ:
        folder, config_file = Path.cwd(), Path(os.environ["SETTLEMENT_CONFIG"])
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} (SETTLEMENT_CONFIG) does not exist")
    else:
        folder = project_folder()
        config_file = folder / DEFAULT_CONFIG
    try:
        with contextlib.chdir(folder):
            return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"bad setting {where} = {first.get('input')!r}: {first['msg']} "
            f"(in {config_file} or SETTLEMENT_{where.upper().replace('.', '__')})"
        ) from None
