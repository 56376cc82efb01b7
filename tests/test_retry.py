"""A Delta write that loses a race is tried again; a schema change is not."""

from __future__ import annotations

import pytest
from delta.exceptions import ConcurrentAppendException, ConcurrentDeleteReadException, MetadataChangedException

from settlement.tables import CONFLICT_ATTEMPTS, retry_on_conflict


def flaky(*failures: Exception):
    calls = []

    @retry_on_conflict
    def write() -> None:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]

    return write, calls


def test_lost_races_are_tried_again():
    write, calls = flaky(ConcurrentAppendException(message="OPTIMIZE"), ConcurrentDeleteReadException(message="x"))
    write()
    assert len(calls) == 3


def test_gives_up_after_the_last_attempt():
    write, calls = flaky(*[ConcurrentAppendException(message="busy")] * CONFLICT_ATTEMPTS)
    with pytest.raises(ConcurrentAppendException):
        write()
    assert len(calls) == CONFLICT_ATTEMPTS


def test_a_schema_change_is_not_retried():
    write, calls = flaky(MetadataChangedException(message="schema"))
    with pytest.raises(MetadataChangedException):
        write()
    assert len(calls) == 1
