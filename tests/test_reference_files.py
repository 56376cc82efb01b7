"""The reference files as operators keep them: every row valid, and no key twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from settlement.config import ConfigError
from settlement.reference import rows_from_csv
from settlement.tables import MerchantRow, PayoutRuleRow

RULES_HEADER = ",".join(PayoutRuleRow.model_fields)


def written(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_rules_are_read_with_their_types(tmp_path):
    path = written(tmp_path, "rules.csv", RULES_HEADER, "R-CARD,,CARD,,3,1,2025-01-01,")
    [rule] = rows_from_csv(path, PayoutRuleRow)
    assert rule == PayoutRuleRow(
        rule_id="R-CARD", payment_method_type="CARD", payout_delay_days=3, confirm_lead_days=1, valid_from="2025-01-01"
    )


def test_a_rule_id_twice_is_refused_with_both_lines(tmp_path):
    path = written(
        tmp_path,
        "rules.csv",
        RULES_HEADER,
        "R-CARD,,CARD,,3,1,2025-01-01,",
        "R-POINT,,POINT,,5,2,2025-01-01,",
        "R-CARD,,CARD,,4,1,2025-06-01,",
    )
    with pytest.raises(ConfigError, match=r"^.*rules\.csv:4: rule_id: R-CARD is already on line 2$"):
        rows_from_csv(path, PayoutRuleRow)


def test_a_merchant_twice_is_refused(tmp_path):
    path = written(tmp_path, "merchants.csv", "merchant_number,status", "m-1,NON_SETTLEMENT", "m-1,TEST")
    with pytest.raises(ConfigError, match=r"merchants\.csv:3: merchant_number: m-1 is already on line 2$"):
        rows_from_csv(path, MerchantRow)
