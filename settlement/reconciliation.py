"""Reconciliation: the tables checked against each other, in pandas (the reconciliation notebook).

Every check returns the rows that disagree, so an empty frame is a pass. None of them trusts the
job's own counters alone: where a record went is found again from the tables themselves.
"""

from __future__ import annotations

import json
from enum import StrEnum

import numpy as np
import pandas as pd

from settlement.contract import Classification
from settlement.statistics import KEY
from settlement.tables import POSITION

TOTALS = ("payment_count", "total_amount")


class Place(StrEnum):
    """Where one record of payment_log ended."""

    QUARANTINE = "quarantine"
    BASE = "base"
    DUPLICATE = "duplicate"  # valid, and its payment id already has a base row
    FINISH = "finish"
    NOWHERE = "nowhere"  # lost: neither rejected, accepted, a duplicate nor a marker
    TWICE = "twice"  # both quarantined and accepted


def _message(value: str | None) -> tuple[str | None, str | None]:
    """The action and payment id of a record that passed validation."""
    try:
        message = json.loads(value or "")
    except json.JSONDecodeError:
        return None, None
    data = message.get("data") if isinstance(message, dict) else None
    return message.get("action"), data.get("paymentId") if isinstance(data, dict) else None


def places(log: pd.DataFrame, quarantine: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """payment_log with each record's `place`, and the `action` and `payment_id` of the valid ones
    that neither table holds by position (the duplicates and the FINISH markers)."""
    at = pd.MultiIndex.from_frame(log[list(POSITION)])
    quarantined = at.isin(pd.MultiIndex.from_frame(quarantine[list(POSITION)]))
    accepted = at.isin(pd.MultiIndex.from_frame(base[list(POSITION)]))
    rest = ~quarantined & ~accepted
    parsed = pd.DataFrame(
        [_message(value) for value in log.loc[rest, "value"]], columns=["action", "payment_id"], index=log.index[rest]
    )
    placed = log.join(parsed)
    placed["place"] = np.select(
        [
            quarantined & accepted,
            quarantined,
            accepted,
            placed["action"].eq("FINISH").to_numpy(),
            placed["payment_id"].isin(base["payment_id"]).to_numpy(),
        ],
        [Place.TWICE, Place.QUARANTINE, Place.BASE, Place.FINISH, Place.DUPLICATE],
        Place.NOWHERE,
    )
    return placed


def record_accounting(placed: pd.DataFrame, batches: pd.DataFrame) -> pd.DataFrame:
    """Records per place, found from the tables, against the batches' own counters; and every
    record in exactly one place (none nowhere, none twice)."""
    counters = {
        "records_in": ("records_in", len(placed)),
        Place.QUARANTINE: ("quarantined", None),
        Place.BASE: ("accepted", None),
        Place.DUPLICATE: ("duplicates", None),
        Place.FINISH: ("finish", None),
        Place.NOWHERE: (None, None),
        Place.TWICE: (None, None),
    }
    found = placed["place"].value_counts()
    rows = [
        {
            "records": str(what),
            "in_the_tables": total if total is not None else int(found.get(what, 0)),
            "settlement_batches": int(batches[counter].sum()) if counter else 0,
        }
        for what, (counter, total) in counters.items()
    ]
    accounting = pd.DataFrame(rows)
    return accounting[accounting["in_the_tables"] != accounting["settlement_batches"]].reset_index(drop=True)


def unlogged(log: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Rows of quarantine or the base whose record payment_log does not hold."""
    logged = pd.MultiIndex.from_frame(log[list(POSITION)])
    return table[~pd.MultiIndex.from_frame(table[list(POSITION)]).isin(logged)].reset_index(drop=True)


def payments_twice(base: pd.DataFrame) -> pd.DataFrame:
    """Base rows of a payment id that has more than one."""
    return base[base.duplicated("payment_id", keep=False)].sort_values("payment_id").reset_index(drop=True)


def batch_arithmetic(batches: pd.DataFrame) -> pd.DataFrame:
    """Batches whose records_in is not quarantined + duplicates + accepted + finish."""
    parts = batches[["quarantined", "duplicates", "accepted", "finish"]].sum(axis=1)
    return batches[batches["records_in"] != parts].reset_index(drop=True)


def statistics_against_base(stats: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Statistics keys whose totals are not the GROUP BY over the base's settlement targets, side by
    side; a key found on one side only shows as missing on the other."""
    targets = base[base["classification"] == Classification.SETTLEMENT]
    expected = (
        targets.groupby(list(KEY), as_index=False)
        .agg(payment_count=("amount", "size"), total_amount=("amount", "sum"))
        .astype({"payment_count": "int64", "total_amount": "int64"})
    )
    both = expected.merge(
        stats[[*KEY, *TOTALS]], on=list(KEY), how="outer", suffixes=("_base", "_statistics"), indicator="found_in"
    )
    both["found_in"] = (
        both["found_in"].cat.rename_categories({"left_only": "base only", "right_only": "statistics only"}).astype(str)
    )
    differ = both["found_in"] != "both"
    for total in TOTALS:
        differ |= both[f"{total}_base"] != both[f"{total}_statistics"]
    return both[differ].sort_values(list(KEY)).reset_index(drop=True)
