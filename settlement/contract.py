"""The payment topic's message contract as pydantic models: the one source of the schemas.

Field names are the snake_case column names of our tables; aliases are the camelCase names the
payment team sends. Validation is strict where the contract is: an amount sent as a string or as
a fraction is wrong, not coerced.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
)


class Channel(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


class PaymentType(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


class PaymentActionType(StrEnum):
    PAYMENT = "PAYMENT"
    CANCEL = "CANCEL"
    PARTIAL_CANCEL = "PARTIAL_CANCEL"
    FULL_CANCEL = "FULL_CANCEL"


class PaymentMethodType(StrEnum):
    CARD = "CARD"
    MONEY = "MONEY"
    PAY = "PAY"
    POINT = "POINT"


class ApprovalStatus(StrEnum):
    APPROVED = "APPROVED"
    UNCONFIRMED = "UNCONFIRMED"


class Classification(StrEnum):
    TEST = "TEST"
    NON_SETTLEMENT_MERCHANT = "NON_SETTLEMENT_MERCHANT"
    NETWORK_CANCEL = "NETWORK_CANCEL"
    UNCONFIRMED = "UNCONFIRMED"
    SETTLEMENT = "SETTLEMENT"


class MerchantStatus(StrEnum):
    TEST = "TEST"
    NON_SETTLEMENT = "NON_SETTLEMENT"


# ASCII digits, and the whole text: `\d` would take other scripts' digits, `$` a trailing newline.
LOCAL_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?")


def local_date_time(text: object) -> datetime:
    """Seoul wall-clock time without zone; nanoseconds are cut to the microseconds Spark keeps."""
    match = LOCAL_DATE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("expected a local date-time like 2025-05-19T21:48:15.989609, without zone")
    seconds, fraction = match.groups()
    return datetime.fromisoformat(seconds).replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(text: object) -> date:
    """`YYYY-MM-DD` and nothing else (pydantic alone would take "0" as a Unix time)."""
    if not isinstance(text, str) or ISO_DATE.fullmatch(text) is None:
        raise ValueError("expected a date like 2025-05-19")
    return date.fromisoformat(text)


Id = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=64)]
Won = Annotated[int, Strict(), Field(ge=0, le=1_000_000_000_000)]
LocalDateTime = Annotated[datetime, BeforeValidator(local_date_time)]
IsoDate = Annotated[date, BeforeValidator(iso_date)]
Flag = Annotated[bool, Strict()]

_message_config = ConfigDict(frozen=True, extra="ignore", validate_by_alias=True, validate_by_name=False)


class Payment(BaseModel):
    """`data` of a PAYMENT message."""

    model_config = _message_config

    payment_id: Id = Field(alias="paymentId")
    payment_type: PaymentType = Field(alias="paymentType")
    amount: Won = Field(alias="amount")
    merchant_number: Id = Field(alias="merchantNumber")
    payment_date: LocalDateTime = Field(alias="paymentDate")
    payment_action_type: PaymentActionType = Field(alias="paymentActionType")
    payment_method_type: PaymentMethodType = Field(alias="paymentMethodType")
    payout_date: IsoDate | None = Field(default=None, alias="payoutDate")
    confirm_date: IsoDate | None = Field(default=None, alias="confirmDate")
    test: Flag = Field(default=False, alias="test")
    network_cancel: Flag = Field(default=False, alias="networkCancel")
    approval_status: ApprovalStatus = Field(default=ApprovalStatus.APPROVED, alias="approvalStatus")


class Finish(BaseModel):
    """`data` of a FINISH message: one partition's end of day."""

    model_config = _message_config

    closing_date: IsoDate = Field(alias="closingDate")


class PaymentMessage(BaseModel):
    model_config = _message_config

    channel: Channel
    action: Literal["PAYMENT"]
    data: Payment


class FinishMessage(BaseModel):
    model_config = _message_config

    channel: Channel
    action: Literal["FINISH"]
    data: Finish


Message = Annotated[PaymentMessage | FinishMessage, Field(discriminator="action")]
MESSAGE: TypeAdapter[PaymentMessage | FinishMessage] = TypeAdapter(Message)
