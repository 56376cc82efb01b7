"""The contract computed in plain Python, independently of the job, over what was produced.

It shares nothing with the job's code but the produced records: validity comes from the label
each record was made with, and classification, payout rules, statistics and day close are
written out here again from the contract's text.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

DEFAULT = ("DEFAULT", 2, 1)


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(file)]


def classify(payment: dict, merchant_status: dict[str, str]) -> str:
    status = merchant_status.get(payment["merchantNumber"])
    if payment.get("test", False) or status == "TEST":
        return "TEST"
    if status == "NON_SETTLEMENT":
        return "NON_SETTLEMENT_MERCHANT"
    if payment.get("networkCancel", False):
        return "NETWORK_CANCEL"
    if payment.get("approvalStatus", "APPROVED") == "UNCONFIRMED":
        return "UNCONFIRMED"
    return "SETTLEMENT"


def payout(payment: dict, approval: date, rules: list[dict]) -> tuple[str, date, date]:
    def fits(rule: dict) -> bool:
        return (
            rule["merchant_number"] in (None, payment["merchantNumber"])
            and rule["payment_method_type"] in (None, payment["paymentMethodType"])
            and rule["payment_action_type"] in (None, payment["paymentActionType"])
            and date.fromisoformat(rule["valid_from"]) <= approval
            and (rule["valid_to"] is None or approval <= date.fromisoformat(rule["valid_to"]))
        )

    candidates = [rule for rule in rules if fits(rule)]
    if candidates:
        # Most specific first; on a tie the later validFrom, then the smaller ruleId.
        best = min(
            candidates,
            key=lambda r: (
                r["merchant_number"] is None,
                r["payment_method_type"] is None,
                r["payment_action_type"] is None,
                -date.fromisoformat(r["valid_from"]).toordinal(),
                r["rule_id"],
            ),
        )
        rule_id, delay, lead = best["rule_id"], int(best["payout_delay_days"]), int(best["confirm_lead_days"])
    else:
        rule_id, delay, lead = DEFAULT
    payout_date = approval + timedelta(days=delay)
    return rule_id, payout_date, payout_date - timedelta(days=lead)


@dataclass
class Expected:
    base: dict[str, tuple] = field(default_factory=dict)  # payment_id -> row
    quarantine: set[tuple[int, int]] = field(default_factory=set)  # (partition, offset)
    duplicates: int = 0
    finishes: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))

    def process(self, produced: list, merchants: list[dict], rules: list[dict]) -> None:
        """One micro-batch: `produced` is what it read, with the reference data it saw."""
        status = {m["merchant_number"]: m["status"] for m in merchants}
        payments = []
        for p in produced:
            if p.record.malformed:
                self.quarantine.add((p.partition, p.offset))
                continue
            message = json.loads(p.record.value)
            if message["action"] == "FINISH":
                self.finishes[(message["channel"], message["data"]["closingDate"])].add(p.partition)
            else:
                payments.append((int(p.record.arrival.timestamp() * 1000), p.partition, p.offset, message))
        for _, partition, offset, message in sorted(payments, key=lambda t: t[:3]):
            payment = message["data"]
            if payment["paymentId"] in self.base:
                self.duplicates += 1
                continue
            approval = datetime.fromisoformat(payment["paymentDate"]).date()
            classification = classify(payment, status)
            rule_id, payout_date, confirm_date = (
                payout(payment, approval, rules) if classification == "SETTLEMENT" else (None, None, None)
            )
            self.base[payment["paymentId"]] = (
                payment["paymentId"],
                message["channel"],
                payment["amount"],
                payment["merchantNumber"],
                approval,
                payment["paymentActionType"],
                payment["paymentMethodType"],
                classification,
                payout_date,
                confirm_date,
                rule_id,
                partition,
                offset,
            )

    def statistics(self) -> dict[tuple, tuple[int, int]]:
        counts, totals = Counter(), Counter()
        for row in self.base.values():
            if row[7] == "SETTLEMENT":
                key = (row[3], row[4], row[5], row[6])
                counts[key] += 1
                totals[key] += row[2]
        return {key: (counts[key], totals[key]) for key in counts}

    def day_close(self, partition_count: int) -> dict[tuple[str, date], tuple[int, bool]]:
        return {
            (channel, date.fromisoformat(day)): (len(parts), len(parts) == partition_count)
            for (channel, day), parts in self.finishes.items()
        }
