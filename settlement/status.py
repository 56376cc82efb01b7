"""`python -m settlement status`: is settlement well, on one screen, from the checkpoint, the broker
and the tables (no JVM).

Its exit code is its answer, for cron and monitoring: 0 healthy, 1 something needs a look (lag
above the warning, quarantine share, a day not closed in time, a failed or dead backfill,
maintenance due), 2 settlement is stopped or behind (records wait and no batch committed for
`monitoring.stalled_minutes`, lag above the critical threshold, the broker not answering). The
thresholds are the `monitoring` settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from settlement import broker
from settlement.checkpoint import Files
from settlement.config import Settings
from settlement.lake import Lake
from settlement.tables import (
    BACKFILL_RUNS,
    QUARANTINE,
    SETTLEMENT_BATCHES,
    TABLES,
    BackfillStatus,
)

HEALTHY, LOOK, STOPPED = 0, 1, 2
VERDICTS = {HEALTHY: "healthy", LOOK: "needs a look", STOPPED: "stopped or behind"}
LAST_BATCHES = 5
TOP_REASONS = 3


@dataclass
class Status:
    at: datetime
    findings: list[tuple[int, str]] = field(default_factory=list)  # (level, what)
    stream: dict[str, Any] = field(default_factory=dict)
    lag: dict[int, int] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)
    quarantine: dict[str, Any] = field(default_factory=dict)
    day_close: list[dict[str, Any]] = field(default_factory=list)
    backfill: dict[str, Any] | None = None
    table_files: dict[str, int] = field(default_factory=dict)

    def find(self, level: int, what: str) -> None:
        self.findings.append((level, what))

    @property
    def code(self) -> int:
        return max((level for level, _ in self.findings), default=HEALTHY)

    def json(self) -> str:
        body = asdict(self)
        body["findings"] = [{"level": VERDICTS[level], "what": what} for level, what in self.findings]
        return json.dumps({"status": VERDICTS[self.code], "exit_code": self.code, **body}, default=str, indent=2)

    def text(self, zone: ZoneInfo) -> str:
        lines = [f"settlement at {self.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}: {VERDICTS[self.code].upper()}"]
        lines += [f"  {'!' if level == STOPPED else '?'} {what}" for level, what in self.findings if level]
        stream = self.stream
        if stream.get("last_batch") is not None:
            lines.append(
                f"stream       query {stream['query_id']}, batch {stream['last_batch']} committed "
                f"{stream['seconds_since_commit']:,.0f} s ago"
            )
        else:
            lines.append("stream       no batch committed yet")
        lines.append(
            f"lag          {sum(self.lag.values()):,} records not read"
            + (" (" + ", ".join(f"{p}: {n:,}" for p, n in sorted(self.lag.items())) + ")" if self.lag else "")
        )
        lines.append(f"batches      the last {len(self.batches)}:" if self.batches else "batches      none today")
        for b in self.batches:
            lines.append(
                f"  {b['batch_id']:>7} {b['started_at']:%H:%M:%S} {b['records_in']:>9,} in {b['quarantined']:>7,} "
                f"quarantined {b['duplicates']:>7,} duplicates {b['accepted']:>9,} accepted {b['seconds']:>6.1f} s"
            )
        q = self.quarantine
        lines.append(
            f"quarantine   last hour: {q['quarantined']:,} of {q['records']:,} records ({q['share']:.2%})"
            + ("; " + "; ".join(f"{n:,} × {reason}" for reason, n in q["top_reasons"]) if q["top_reasons"] else "")
        )
        for d in self.day_close:
            closed = "closed" if d["closed"] else f"open, {d['partitions_finished']}/{d['partition_count']} partitions"
            lines.append(f"day close    {d['channel']} {d['closing_date']}: {closed}")
        if not self.day_close:
            lines.append("day close    no closing date yesterday or today")
        if self.backfill:
            b = self.backfill
            lines.append(f"backfill     last: {b['run_id']} {b['mode']} {b['scope']}: {b['status']}")
        else:
            lines.append("backfill     none")
        lines.append(
            "tables       data files: " + ", ".join(f"{name} {files:,}" for name, files in self.table_files.items())
        )
        return "\n".join(lines)


def status(lake: Lake, now: datetime | None = None) -> Status:
    now = now or datetime.now(UTC)
    settings = lake.settings
    found, limits = Status(now), settings.monitoring
    _stream(found, settings, now)
    batches = lake.pandas(SETTLEMENT_BATCHES, filters=[("started_at", ">=", now - timedelta(days=1))], missing_ok=True)
    _batches(found, batches)
    _quarantine(found, lake, batches, now)
    _day_close(found, lake, now)
    _backfill(found, lake, now)
    for name in TABLES:
        try:
            found.table_files[name] = lake.file_count(name)
        except FileNotFoundError:
            continue
    crowded = [name for name, files in found.table_files.items() if files > limits.max_table_files]
    if crowded:
        found.find(LOOK, f"maintenance due: more than {limits.max_table_files:,} data files in {', '.join(crowded)}")
    return found


def _stream(found: Status, settings: Settings, now: datetime) -> None:
    files, kafka, limits = Files(settings.storage), settings.kafka, settings.monitoring
    commit = files.last_commit()
    found.stream = {"query_id": files.query_id(), "last_batch": None, "seconds_since_commit": None}
    if commit is not None:
        found.stream |= {"last_batch": commit[0], "seconds_since_commit": (now - commit[1]).total_seconds()}
    try:
        held = broker.offsets(kafka, kafka.payment_topic)
    except broker.BrokerError as error:
        found.find(STOPPED, str(error))
        return
    next_offsets = files.next_offsets(kafka.payment_topic) or {}
    found.lag = {p: high - max(low, next_offsets.get(p, low)) for p, (low, high) in sorted(held.items())}
    waiting = sum(found.lag.values())
    since = found.stream["seconds_since_commit"]
    if waiting and (since is None or since > limits.stalled_minutes * 60):
        when = "no batch ever committed" if since is None else f"no batch committed for {since / 60:,.1f} min"
        found.find(STOPPED, f"stopped: {waiting:,} records wait and {when}")
    elif waiting > limits.lag_critical_records:
        found.find(STOPPED, f"behind: {waiting:,} records not read (critical above {limits.lag_critical_records:,})")
    elif waiting > limits.lag_warning_records:
        found.find(LOOK, f"lagging: {waiting:,} records not read (warning above {limits.lag_warning_records:,})")


def _batches(found: Status, batches: pd.DataFrame) -> None:
    for row in batches.sort_values("started_at", ascending=False).head(LAST_BATCHES).itertuples():
        found.batches.append(
            {
                "batch_id": row.batch_id,
                "started_at": row.started_at,
                "records_in": row.records_in,
                "quarantined": row.quarantined,
                "duplicates": row.duplicates,
                "accepted": row.accepted,
                "seconds": row.duration_ms / 1000,
            }
        )


def _quarantine(found: Status, lake: Lake, batches: pd.DataFrame, now: datetime) -> None:
    hour = now - timedelta(hours=1)
    rows = lake.pandas(QUARANTINE, filters=[("quarantined_at", ">=", hour)], columns=["error"], missing_ok=True)
    last_hour = batches[batches.started_at >= hour]
    records, quarantined = int(last_hour.records_in.sum()), int(last_hour.quarantined.sum())
    share = quarantined / records if records else 0.0
    reasons = rows.error.value_counts().head(TOP_REASONS)
    found.quarantine = {
        "records": records,
        "quarantined": quarantined,
        "share": share,
        "top_reasons": [(str(reason), int(n)) for reason, n in reasons.items()],
    }
    limit = lake.settings.monitoring.quarantine_share
    if share > limit:
        found.find(LOOK, f"quarantine: {share:.1%} of the last hour's records (above {limit:.1%})")


def _day_close(found: Status, lake: Lake, now: datetime) -> None:
    settings = lake.settings
    today = settings.spark.today(now)
    yesterday = today - timedelta(days=1)
    days = lake.recent_day_close(now=now)
    # A channel counts from the days it has sent FINISH markers for: one that has never closed a
    # day (a new channel, a test lake of old dates) is not judged.
    for channel in sorted(days.channel.unique()):
        for day in (yesterday, today):
            row = days[(days.channel == channel) & (days.closing_date == day)]
            closed = bool(len(row)) and bool(pd.notna(row.iloc[0].closed_at))
            found.day_close.append(
                {
                    "channel": channel,
                    "closing_date": day,
                    "closed": closed,
                    "partitions_finished": int(row.iloc[0].partitions_finished) if len(row) else 0,
                    "partition_count": int(row.iloc[0].partition_count) if len(row) else None,
                }
            )
        due = datetime.combine(today, datetime.min.time(), settings.spark.zone) + timedelta(
            hours=settings.monitoring.day_close_by_hour
        )
        if now >= due and not found.day_close[-2]["closed"]:
            found.find(LOOK, f"day close: {channel} {yesterday} is not closed (due by {due:%H:%M})")


def _backfill(found: Status, lake: Lake, now: datetime) -> None:
    settings = lake.settings
    runs = lake.pandas(BACKFILL_RUNS, missing_ok=True)
    if runs.empty:
        return
    last = runs.sort_values("started_at").iloc[-1]
    found.backfill = {
        "run_id": last.run_id,
        "mode": last["mode"],
        "scope": last.scope,
        "status": last.status,
        "started_at": last.started_at,
        "finished_at": last.finished_at if pd.notna(last.finished_at) else None,
    }
    heard = last.heartbeat_at if pd.notna(last.heartbeat_at) else last.started_at
    if last.status == BackfillStatus.FAILED.value:
        found.find(LOOK, f"backfill {last.run_id} failed: {last.summary}")
    elif (
        last.status == BackfillStatus.RUNNING.value and (now - heard).total_seconds() > settings.backfill.lease_seconds
    ):
        found.find(LOOK, f"backfill {last.run_id} is RUNNING but not heard of since {heard:%Y-%m-%d %H:%M:%S} UTC")
