"""`python -m settlement <command>` (or `settlement <command>`): answers for operators, from the tables.

    status    [--format json]                 is settlement well (see `settlement.status` for its exit codes)
    explain   --payment-id P                  where that payment went and why
    payouts   --merchant M [--from D --to D]  what the merchant is paid on each payout date
    stats     --date D [--merchant M]         the approval-date statistics
    day-close [--date D]                      which channels are closed, which partitions are missing
    hold      --partition P --offset O --reason TEXT
                                              set aside a record that fails its batch (see `settlement.guard`)

Tables print on a terminal; `--format json` or `--format csv` for scripts. Exit codes: 0 found,
1 nothing found (an unknown payment id, no rows), 2 bad arguments or settings, or no tables yet;
`status` answers with its own: 0 healthy, 1 needs a look, 2 stopped or behind.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from datetime import UTC, date, datetime
from typing import NoReturn
from zoneinfo import ZoneInfo

import pandas as pd

from settlement import status
from settlement.arguments import OneLineParser, iso_date
from settlement.classification import first_match
from settlement.config import ConfigError, Settings, load_settings
from settlement.contract import Classification
from settlement.exits import CannotRun, Exit, Failed, report
from settlement.lake import Lake
from settlement.payout_rule import DEFAULT_RULE, candidates
from settlement.tables import (
    APPROVAL_DAILY_STATS,
    BATCH_FAILURES,
    DAY_CLOSE,
    HELD_RECORDS,
    MERCHANTS,
    PAYMENT_LOG,
    PAYOUT_RULES,
    QUARANTINE,
    SETTLEMENT_BASE,
    HeldRecordRow,
)

PROG = "settlement"


class NotFound(Failed):
    """Nothing matches the question; the message says what was looked for."""


def parser() -> OneLineParser:
    main = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(
        dest="command", required=True, metavar="{status,explain,payouts,stats,day-close,hold}"
    )
    status_ = commands.add_parser(
        "status", help="is settlement well: exit 0 healthy, 1 needs a look, 2 stopped or behind"
    )
    status_.add_argument("--format", choices=("text", "json"), default="text")
    explain = commands.add_parser("explain", help="where a payment went and why")
    explain.add_argument("--payment-id", required=True)
    payouts = commands.add_parser("payouts", help="what a merchant is paid on each payout date")
    payouts.add_argument("--merchant", required=True)
    payouts.add_argument("--from", dest="first", type=iso_date, metavar="DATE", help="first payout date")
    payouts.add_argument("--to", dest="last", type=iso_date, metavar="DATE", help="last payout date")
    stats = commands.add_parser("stats", help="the approval-date statistics of a date")
    stats.add_argument("--date", type=iso_date, required=True)
    stats.add_argument("--merchant")
    day_close = commands.add_parser("day-close", help="which channels are closed, which partitions are missing")
    day_close.add_argument("--date", type=iso_date)
    hold = commands.add_parser("hold", help="set aside a record that fails its batch: it is quarantined, unread")
    hold.add_argument("--topic", help="the payment topic if not given")
    hold.add_argument("--partition", type=int, required=True)
    hold.add_argument("--offset", type=int, required=True)
    hold.add_argument("--reason", required=True, help="why, for the quarantine row (e.g. a ticket number)")
    for command in (payouts, stats, day_close):
        command.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return main


def show(rows: pd.DataFrame, form: str, zone: ZoneInfo) -> str:
    for column in rows.select_dtypes("datetimetz"):
        rows[column] = rows[column].dt.tz_convert(zone)
    if form == "json":
        return json.dumps(rows.to_dict("records"), default=str, ensure_ascii=False, indent=2)
    if form == "csv":
        return rows.to_csv(index=False).rstrip("\n")
    return rows.to_string(index=False)


# -- explain ---------------------------------------------------------------------------------


def explain(lake: Lake, payment_id: str, zone: ZoneInfo) -> str:
    logged = lake.pandas(PAYMENT_LOG, columns=["topic", "partition", "offset", "kafka_timestamp", "key", "value"])
    mentions = logged[(logged.key == payment_id) | logged.value.str.contains(json.dumps(payment_id), regex=False)]
    copies = mentions[(mentions.key == payment_id) | (mentions.value.map(_payment_id) == payment_id)]
    copies = copies.sort_values(["topic", "partition", "offset"])
    if copies.empty:
        raise NotFound(f"no record of payment {payment_id!r} in {PAYMENT_LOG}")
    quarantined = lake.pandas(QUARANTINE, columns=["topic", "partition", "offset", "error"])
    base = lake.pandas(SETTLEMENT_BASE, filters=[("payment_id", "=", payment_id)])
    accepted = base.iloc[0] if len(base) else None
    lines = [f"payment {payment_id}: {len(copies)} record{'s' if len(copies) > 1 else ''} in {PAYMENT_LOG}"]
    for copy in copies.itertuples():
        where = (
            f"  {copy.topic} partition {copy.partition} offset {copy.offset}, at {_local(copy.kafka_timestamp, zone)}: "
        )
        reason = quarantined[
            (quarantined.topic == copy.topic)
            & (quarantined.partition == copy.partition)
            & (quarantined.offset == copy.offset)
        ]
        if len(reason):
            lines.append(where + f"quarantined: {reason.iloc[0].error}")
        elif accepted is not None and (copy.partition, copy.offset) == (accepted.partition, accepted.offset):
            lines.append(where + "accepted into the base")
        else:
            lines.append(where + ("a duplicate of the accepted copy" if accepted is not None else "not in the base"))
    if accepted is None:
        return "\n".join(lines)
    lines += _classification(lake, accepted) + _payout(lake, accepted)
    return "\n".join(lines)


def _payment_id(value: str | None) -> str | None:
    if value is None:  # json.loads would raise the TypeError caught below
        return None
    try:
        return json.loads(value)["data"]["paymentId"]
    except (TypeError, ValueError, KeyError):
        return None


def _local(moment: pd.Timestamp, zone: ZoneInfo) -> str:
    return moment.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _classification(lake: Lake, row: pd.Series) -> list[str]:
    merchants = lake.pandas(MERCHANTS, filters=[("merchant_number", "=", row.merchant_number)])
    status = merchants.iloc[0].status if len(merchants) else None
    number, rule = first_match({**row.to_dict(), "merchant_status": status})
    lines = [
        f"  {row.payment_action_type} of {row.amount:,} won by {row.payment_method_type} at {row.merchant_number}"
        f" (merchant status: {status or 'normal'}), approval date {row.approval_date}",
        f"  classification: {row.classification}",
        f"    rule {number} of the contract: {rule.when}"
        + ("" if number <= 4 else " (test false, merchant normal, networkCancel false, approvalStatus APPROVED)"),
    ]
    if rule.classification.value != row.classification:
        lines.append(
            f"    the reference data has changed since: today it would be {rule.classification.value};"
            " a `rederive` backfill of its date applies that"
        )
    return lines


def _payout(lake: Lake, row: pd.Series) -> list[str]:
    if row.classification != Classification.SETTLEMENT.value:
        return ["  no payout: only settlement targets are paid"]
    rules = lake.pandas(PAYOUT_RULES).astype(object).where(lambda r: r.notna(), None).to_dict("records")
    ranked = candidates(row.to_dict(), rules)
    lines = [f"  payout rule {row.rule_id}: payout {row.payout_date}, confirm {row.confirm_date}"]
    if not ranked:
        lines.append(
            f"    no rule fits, so the default: payout {DEFAULT_RULE.payout_delay_days} days after"
            f" approval, confirm {DEFAULT_RULE.confirm_lead_days} day before payout"
        )
    for rule, won_by in ranked:
        scope = (
            ", ".join(
                f"{rule[f]}"
                for f in ("merchant_number", "payment_method_type", "payment_action_type")
                if rule[f] is not None
            )
            or "any payment"
        )
        verdict = "chosen" if not won_by else f"beaten: the rule above {won_by}"
        lines.append(
            f"    {rule['rule_id']:<20} {scope:<40} from {rule['valid_from']}"
            f" +{rule['payout_delay_days']}d/-{rule['confirm_lead_days']}d  {verdict}"
        )
    best = ranked[0][0]["rule_id"] if ranked else DEFAULT_RULE.rule_id
    if best != row.rule_id:
        lines.append(
            f"    the payout rules have changed since: today it would be {best};"
            " a `rederive` backfill of its date applies that"
        )
    return lines


# -- payouts, stats, day close ---------------------------------------------------------------


def payouts(lake: Lake, merchant: str, first: date | None, last: date | None) -> pd.DataFrame:
    filters = [("merchant_number", "=", merchant), ("classification", "=", Classification.SETTLEMENT.value)]
    base = lake.pandas(
        SETTLEMENT_BASE,
        filters=filters,
        columns=["payout_date", "payment_method_type", "payment_action_type", "amount"],
    )
    base = base[(base.payout_date >= (first or date.min)) & (base.payout_date <= (last or date.max))]
    if base.empty:
        raise NotFound(f"no settlement targets of {merchant!r} with a payout date in that range")
    return (
        base.groupby(["payout_date", "payment_method_type", "payment_action_type"], as_index=False)
        .agg(payments=("amount", "size"), amount=("amount", "sum"))
        .sort_values(["payout_date", "payment_method_type", "payment_action_type"])
    )


def stats(lake: Lake, day: date, merchant: str | None) -> pd.DataFrame:
    filters = [("approval_date", "=", day)] + ([("merchant_number", "=", merchant)] if merchant else [])
    rows = lake.pandas(APPROVAL_DAILY_STATS, filters=filters)
    if rows.empty:
        raise NotFound(f"no statistics for {day}" + (f" and {merchant!r}" if merchant else ""))
    return rows.sort_values(["merchant_number", "payment_action_type", "payment_method_type"]).drop(
        columns="updated_at"
    )


def day_close(lake: Lake, day: date | None) -> pd.DataFrame:
    rows = lake.pandas(DAY_CLOSE, filters=[("closing_date", "=", day)] if day else None)
    if rows.empty:
        raise NotFound(f"no FINISH marker seen for {day}" if day else "no FINISH marker seen yet")
    rows["closed"] = rows.closed_at.notna()
    rows["missing_partitions"] = [
        sorted(set(range(count)) - set(finished))
        for count, finished in zip(rows.partition_count, rows.finished_partitions, strict=True)
    ]
    return rows.sort_values(["closing_date", "channel"])[
        [
            "closing_date",
            "channel",
            "closed",
            "partitions_finished",
            "partition_count",
            "missing_partitions",
            "closed_at",
        ]
    ]


# -- hold ------------------------------------------------------------------------------------


def hold(lake: Lake, topic: str, partition: int, offset: int, reason: str) -> str:
    """Add the record to `held_records`, unless a table already holds it (then NotFound says where)."""
    where = [("topic", "=", topic), ("partition", "=", partition), ("offset", "=", offset)]
    for name, what in (
        (HELD_RECORDS, "is already held"),
        (QUARANTINE, "is already quarantined"),
        (SETTLEMENT_BASE, "is already accepted into the base"),
    ):
        if len(lake.pandas(name, filters=where, columns=["offset"])):
            raise NotFound(f"record {topic}/{partition}/{offset} {what}: nothing to hold")
    row = HeldRecordRow(
        topic=topic,
        partition=partition,
        offset=offset,
        reason=reason,
        held_at=datetime.now(UTC),
        held_by=f"{getpass.getuser()}@{socket.gethostname()}",
    )
    lake.append(HELD_RECORDS, [row])
    failed = lake.pandas(BATCH_FAILURES, filters=where)
    line = f"held {topic}/{partition}/{offset}: the next start of the stream quarantines it with your reason"
    if len(failed):
        last = failed.sort_values("failed_at").iloc[-1]
        line += f" (batch {last.batch_id} failed on it: {last.error})"
    return line


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings: Settings = load_settings()
        lake, zone = Lake(settings), settings.spark.zone
        if args.command == "status":
            found = status.status(lake)
            print(found.json() if args.format == "json" else found.text(zone))
            return found.code
        if args.command == "explain":
            print(explain(lake, args.payment_id, zone))
            return Exit.DONE
        if args.command == "hold":
            print(hold(lake, args.topic or settings.kafka.payment_topic, args.partition, args.offset, args.reason))
            return Exit.DONE
        if args.command == "payouts":
            if args.first and args.last and args.last < args.first:
                raise ValueError(f"--to {args.last} is before --from {args.first}")
            rows = payouts(lake, args.merchant, args.first, args.last)
        elif args.command == "stats":
            rows = stats(lake, args.date, args.merchant)
        else:
            rows = day_close(lake, args.date)
        print(show(rows, args.format, zone))
        return Exit.DONE
    except (Failed, ConfigError) as error:
        return report(PROG, error)
    except (FileNotFoundError, ValueError) as error:
        return report(PROG, CannotRun(error))


def run() -> NoReturn:
    """The command line's entry point (`python -m settlement`, the `settlement` script)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown: deltalake's Rust threads can abort it (delta-rs#2184), and
    # a script must see our exit code, not a SIGABRT.
    os._exit(code)
