"""What a backfill did (or would do, in a dry run), per approval date, and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import Row


@dataclass
class Day:
    """What a backfill did (or would do) to one approval date."""

    payments: int = 0  # rederive: the base rows of the date; topic and log: the valid payments read
    inserted: int = 0
    reclassified: int = 0
    redated: int = 0
    count_before: int = 0
    count_after: int = 0
    amount_before: int = 0
    amount_after: int = 0
    keys_changed: int = 0


@dataclass
class Summary:
    days: dict[date, Day] = field(default_factory=dict)
    records: int = 0
    logged: int = 0
    quarantined: int = 0
    finish: int = 0
    notes: list[str] = field(default_factory=list)
    counted: set[date] = field(default_factory=set)  # dates whose statistics moves are in

    def day(self, day: date) -> Day:
        return self.days.setdefault(day, Day())

    def total(self, name: str) -> int:
        return sum(getattr(day, name) for day in self.days.values())

    def add(self, day: date, what: str, count: int) -> None:
        setattr(self.day(day), what, getattr(self.day(day), what) + count)

    def record_moves(self, per_day: list[Row], days: set[date]) -> None:
        """Put the statistics moves (`statistics.moves_per_day`) of `days` in the summary."""
        for row in per_day:
            if row.approval_date in days:
                # Several slices may touch one date: its first "before", its last "after".
                day, first = self.day(row.approval_date), row.approval_date not in self.counted
                self.counted.add(row.approval_date)
                if first:
                    day.count_before, day.amount_before = row.count_before, row.amount_before
                day.count_after, day.amount_after = row.count_after, row.amount_after
                day.keys_changed += row.keys_changed


def table(summary: Summary) -> str:
    header = (
        f"{'approval date':<13} {'payments':>9} {'inserted':>9} {'reclassified':>12} {'redated':>8}"
        f"  {'statistics: payments':>24}  {'amount (won)':>31}  {'keys':>5}"
    )
    lines = [header]
    for day, d in sorted(summary.days.items()):
        lines.append(
            f"{day.isoformat():<13} {d.payments:>9,} {d.inserted:>9,} {d.reclassified:>12,} {d.redated:>8,}"
            f"  {d.count_before:>11,} → {d.count_after:>10,}  {d.amount_before:>15,} → {d.amount_after:>13,}"
            f"  {d.keys_changed:>5,}"
        )
    return "\n".join(lines)


def summary_line(mode: str, scope: str, summary: Summary, dry_run: bool, seconds: float, run_id: str) -> str:
    total = summary.total
    dates = len(summary.days)
    parts = [f"{dates} date{'' if dates == 1 else 's'}", f"{total('payments'):,} payments"]
    if mode in ("topic", "log"):
        parts = [f"{summary.records:,} records", *parts, f"{total('inserted'):,} new in the base"]
        parts += [f"{summary.logged:,} newly logged"] if mode == "topic" else []
        parts += [f"{summary.quarantined:,} newly quarantined", f"{summary.finish:,} FINISH"]
    else:
        parts += [f"{total('reclassified'):,} reclassified", f"{total('redated'):,} redated"]
    parts.append(
        f"statistics {total('count_before'):,} → {total('count_after'):,} payments, "
        f"{total('amount_before'):,} → {total('amount_after'):,} won in {total('keys_changed'):,} keys"
    )
    done = "dry run, nothing written" if dry_run else "done"
    return f"backfill {mode} {scope}: {done} in {seconds:.0f} s; " + ", ".join(parts) + f" (run {run_id})"
