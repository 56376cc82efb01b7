"""Typed settings: `conf/settlement.toml`, each value overridable by an environment variable.

`SETTLEMENT_CONFIG` names another TOML file (a profile); `SETTLEMENT_<SECTION>__<KEY>` overrides
one value, e.g. `SETTLEMENT_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from settlement.exits import CannotRun

DEFAULT_CONFIG = Path("conf/settlement.toml")
SECRETS = "SETTLEMENT_SECRETS"
# Settings whose values are not repeated in an error line: they hold passwords.
SECRET_SETTINGS = ("kafka.client_options", "kafka.java_client_options")
_DURATION = re.compile(r"^\d+ (second|minute|hour|day)s?$")


class KafkaSettings(BaseModel):
    """The Kafka cluster, its topics, and how the stream reads them."""

    bootstrap_servers: str = Field(default="localhost:9092", description="The Kafka cluster's bootstrap servers.")
    payment_topic: str = Field(default="payment", description="The input topic.")
    statistics_topic: str = Field(
        default="payment-statistics", description="Where each batch publishes the statistics rows it changed."
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        default="earliest", description="Where a new checkpoint starts reading: `earliest` or `latest`."
    )
    max_offsets_per_trigger: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Records per micro-batch at most, so a backlog is worked off in batches that fit memory; "
        "unset, no cap (the profiles in conf/ set one).",
    )
    client_options: dict[str, str] = Field(
        default={},
        description="Passed through to every Kafka client, Java and librdkafka alike (security settings, "
        "e.g. `security.protocol`).",
    )
    java_client_options: dict[str, str] = Field(
        default={},
        description="Only for the Java clients of Spark's Kafka source and sink: what librdkafka does not know "
        "and would refuse (`sasl.jaas.config`).",
    )

    def spark_options(self) -> dict[str, str]:
        """The options of Spark's Kafka source and sink for this cluster: kafka.<client option>."""
        options = {"bootstrap.servers": self.bootstrap_servers, **self.client_options, **self.java_client_options}
        return {f"kafka.{option}": value for option, value in options.items()}


class StorageSettings(BaseModel):
    """Where the tables and the checkpoint live; relative paths are resolved from the project's folder."""

    model_config = ConfigDict(validate_default=True)

    root: str = Field(
        default=".local/lake",
        description="Where the Delta tables live, at `<root>/<table>`: a local path or `s3a://...`.",
    )
    checkpoint: str = Field(
        default=".local/checkpoints/settlement",
        description="The stream's checkpoint; keep it beside the tables (the two are the job's state).",
    )

    @field_validator("root", "checkpoint")
    @classmethod
    def _absolute(cls, location: str) -> str:
        """A local relative path is taken from the project's folder (`load_settings`), once."""
        return location if "://" in location else str(Path(location).resolve())

    def table(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"


class StreamSettings(BaseModel):
    """The streaming query."""

    trigger_interval: str = Field(
        default="10 seconds", description="Continuous mode: how often a micro-batch starts (`10 seconds`, `1 minute`)."
    )
    query_name: str = Field(default="settlement", description="The streaming query's name in the Spark UI.")

    @field_validator("trigger_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("expected a duration like '10 seconds' or '1 minute'")
        return value


class ReferenceSettings(BaseModel):
    """The reference data's CSV files, which `jobs/load_reference.py` loads into Delta tables."""

    model_config = ConfigDict(validate_default=True)

    merchants: Path = Field(default=Path("conf/merchants.csv"), description="Merchant reference data.")
    payout_rules: Path = Field(default=Path("conf/payout_rules.csv"), description="The payout rules.")

    @field_validator("merchants", "payout_rules")
    @classmethod
    def _absolute(cls, location: Path) -> Path:
        return location.resolve()


class SparkSettings(BaseModel):
    """The Spark session."""

    model_config = ConfigDict(validate_default=True)

    master: str = Field(
        default="local[2]",
        description="Where a session made in Python runs (tests, notebooks, `python -m`); spark-submit's "
        "`--master` decides for a submitted job.",
    )
    shuffle_partitions: Annotated[int, Field(gt=0)] = Field(
        default=2,
        description="Shuffle partitions, dedup's state stores among them: a multiple of the executors' cores; "
        "fixed once a checkpoint holds dedup state.",
    )
    read_tasks: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Tasks that read a batch from the payment topic, at most: the executors' cores when the topic "
        "has more partitions than they, as each task pays its own start and its Python worker's however few "
        "records it reads; none for a task per partition.",
    )
    snapshot_partitions: Annotated[int, Field(gt=0)] = Field(
        default=1,
        description="Tasks that rebuild a Delta table's state from its log, before every write and read of it.",
    )
    listing_tasks: Annotated[int, Field(gt=0)] = Field(
        default=8, description="Tasks listing a table's files (VACUUM); a few per core of the cluster."
    )
    state_memory_mb: Annotated[int, Field(gt=0)] = Field(
        default=128,
        description="Native memory all of a JVM's dedup state stores share (RocksDB's memtables and block "
        "cache), beside the heap; the ids themselves stay on local disk.",
    )
    time_zone: str = Field(default="Asia/Seoul", description="The session time zone, for showing instants.")
    jars: str = Field(default=".local/jars", description="Jars added when the session is not made by spark-submit.")
    log_level: str = Field(default="WARN", description="Spark's log level.")
    conf: dict[str, str] = Field(
        default={},
        description="Any other Spark setting, e.g. executor sizes, the state store provider or object "
        "storage's `spark.hadoop.fs.s3a.*`.",
    )

    @field_validator("jars")
    @classmethod
    def _absolute(cls, location: str) -> str:
        return str(Path(location).resolve())

    @property
    def zone(self) -> ZoneInfo:
        """The session time zone, in which the job's dates are counted."""
        return ZoneInfo(self.time_zone)

    def today(self, now: datetime | None = None) -> date:
        """The job's date at `now` (by default, now): its time zone's, not this machine's."""
        return (now or datetime.now(UTC)).astimezone(self.zone).date()


class BackfillSettings(BaseModel):
    """Backfills and reprocessing (`jobs/backfill.py`)."""

    lease_seconds: Annotated[int, Field(gt=0)] = Field(
        default=600,
        description="A running backfill renews its lock every quarter of this; a lock not renewed for this "
        "long is a dead run's, and the next backfill takes it over.",
    )


class MaintenanceSettings(BaseModel):
    """Compaction and VACUUM (`jobs/maintain.py`)."""

    vacuum_retention_hours: Annotated[int, Field(ge=168)] = Field(
        default=168,
        description="VACUUM keeps the files any version of this age still reads; Delta refuses less than 168 hours.",
    )


class LakeSettings(BaseModel):
    """How people read the tables (`settlement.lake.Lake`: notebooks and the operator's command)."""

    engine: Literal["deltalake", "spark"] = Field(
        default="deltalake",
        description="`deltalake` (Delta's Rust reader with pandas, no JVM) or `spark` (for ranges that outgrow "
        "one machine).",
    )


class MonitoringSettings(BaseModel):
    """Metrics, logs, and the thresholds `python -m settlement status` judges the stream by."""

    metrics_port: Annotated[int, Field(gt=0, lt=65536)] | None = Field(
        default=None,
        description="The driver serves Prometheus metrics on this port at `/metrics`; unset, no metrics.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`: a line a person reads per batch; `json`: one JSON object per line (batch id, "
        "counts, stage seconds) for a log pipeline.",
    )
    lag_warning_records: Annotated[int, Field(gt=0)] = Field(
        default=200_000, description="Records the stream has not read yet beyond which `status` says look (exit 1)."
    )
    lag_critical_records: Annotated[int, Field(gt=0)] = Field(
        default=2_000_000, description="Records not read yet beyond which `status` says behind (exit 2)."
    )
    stalled_minutes: Annotated[float, Field(gt=0)] = Field(
        default=10,
        description="No batch committed for this long while records wait: `status` says stopped (exit 2).",
    )
    quarantine_share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.05, description="A share of records quarantined over the last hour above this: look (exit 1)."
    )
    day_close_by_hour: Annotated[int, Field(ge=0, le=23)] = Field(
        default=2,
        description="A channel's closing date not complete by this hour of the next day (the job's time zone): "
        "look (exit 1).",
    )
    max_table_files: Annotated[int, Field(gt=0)] = Field(
        default=1_000, description="A table with more data files than this is due for `make maintain` (exit 1)."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description=KafkaSettings.__doc__)
    storage: StorageSettings = Field(default_factory=StorageSettings, description=StorageSettings.__doc__)
    stream: StreamSettings = Field(default_factory=StreamSettings, description=StreamSettings.__doc__)
    reference: ReferenceSettings = Field(default_factory=ReferenceSettings, description=ReferenceSettings.__doc__)
    spark: SparkSettings = Field(default_factory=SparkSettings, description=SparkSettings.__doc__)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings, description=BackfillSettings.__doc__)
    maintenance: MaintenanceSettings = Field(
        default_factory=MaintenanceSettings, description=MaintenanceSettings.__doc__
    )
    lake: LakeSettings = Field(default_factory=LakeSettings, description=LakeSettings.__doc__)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings, description=MonitoringSettings.__doc__)

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
        # Secrets (passwords, keys) come from the environment or from a file of their own that only
        # the driver reads, merged over the profile: never from a committed profile.
        profile = TomlConfigSettingsSource(settings_cls, toml_file=config_file)
        if secrets := os.environ.get(SECRETS):
            return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=Path(secrets)), profile
        return init_settings, env_settings, profile


class ConfigError(CannotRun):
    """A setting a person must fix; its message is the one line we print."""


def project_folder() -> Path:
    """The nearest folder, from the working directory up, that holds conf/settlement.toml.

    Relative settings are taken from there, so a notebook (whose kernel runs in notebooks/) or a
    command run in a subfolder sees the same tables as the job run from the project's root.
    """
    here = Path.cwd()
    return next((folder for folder in (here, *here.parents) if (folder / DEFAULT_CONFIG).is_file()), here)


def load_settings(**overrides: Any) -> Settings:
    if "SETTLEMENT_CONFIG" in os.environ:
        folder, config_file = Path.cwd(), Path(os.environ["SETTLEMENT_CONFIG"])
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} (SETTLEMENT_CONFIG) does not exist")
    else:
        folder = project_folder()
        config_file = folder / DEFAULT_CONFIG
    if (secrets := os.environ.get(SECRETS)) and not Path(secrets).is_file():
        raise ConfigError(f"secrets file {secrets} ({SECRETS}) does not exist")
    try:
        with contextlib.chdir(folder):
            return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        shown = "(hidden)" if where.startswith(SECRET_SETTINGS) else repr(first.get("input"))
        files = f"{config_file}, {secrets}" if secrets else str(config_file)
        # A secret's key has dots (sasl.password): its variable is the dictionary's.
        named = next((s for s in SECRET_SETTINGS if where.startswith(s)), where)
        variable = f"SETTLEMENT_{named.upper().replace('.', '__')}"
        raise ConfigError(f"bad setting {where} = {shown}: {first['msg']} (in {files} or {variable})") from None


def settings_markdown() -> str:
    """docs/settings.md: per section, each setting with its default, its variable and its description.

    Regenerate with `python -m settlement.config > docs/settings.md` (tests/test_settings_doc.py checks it).
    """

    def default(value: object) -> str:
        return "unset" if value is None else f"`{value}`"

    purpose = (
        "Every setting of the job, generated from `settlement/config.py` by "
        "`python -m settlement.config > docs/settings.md`; do not edit by hand."
    )
    precedence = (
        "A setting comes from its environment variable, else from the profile (`conf/settlement.toml`, or the "
        "file `SETTLEMENT_CONFIG` names), else from the default below. A dictionary's variable holds JSON."
    )
    lines = ["# Settings", "", purpose, "", precedence]
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += ["", f"## {section}", "", section_field.description or "", ""]
        lines += ["| setting | default | environment variable | description |", "|---|---|---|---|"]
        for key, field in model.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            variable = f"SETTLEMENT_{section.upper()}__{key.upper()}"
            lines.append(f"| `{section}.{key}` | {default(field.default)} | `{variable}` | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
