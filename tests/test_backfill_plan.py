"""What a backfill would read and how its statistics fence orders with the stream: pure logic."""

from __future__ import annotations

import argparse
from datetime import date
from itertools import pairwise

import pytest

from settlement.backfill.job import offset_ranges
from settlement.backfill.scope import Dates, Offsets
from settlement.statistics_fence import fence_version, stream_version


def test_offsets_are_read_as_partition_first_end():
    assert offset_ranges("0:1200-5000, 3:0-10") == {0: (1200, 5000), 3: (0, 10)}
    for bad in ("0:5000-1200", "0-10", "a:1-2", "0:1"):
        with pytest.raises(argparse.ArgumentTypeError):
            offset_ranges(bad)


def test_slices_cover_every_offset_once_in_arrival_order():
    offsets = Offsets("payment", {0: (100, 1100), 1: (0, 10), 2: (5, 5)})
    slices = offsets.slices(300)
    assert len(slices) == 4
    for partition, (start, end) in ((0, (100, 1100)), (1, (0, 10))):
        spans = [piece.ranges[partition] for piece in slices if partition in piece.ranges]
        assert spans[0][0] == start and spans[-1][1] == end
        assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert sum(piece.records() for piece in slices) == offsets.records() == 1010
    assert Offsets("payment", {}).predicate("t") == "t.topic = 'payment' AND (false)"


def test_dates_include_both_ends_and_refuse_a_backward_range():
    assert Dates(date(2025, 5, 30), date(2025, 6, 1)).days() == [date(2025, 5, 30), date(2025, 5, 31), date(2025, 6, 1)]
    assert str(Dates(date(2025, 5, 19), date(2025, 5, 19))) == "2025-05-19"
    with pytest.raises(ValueError, match="before --from"):
        Dates(date(2025, 5, 19), date(2025, 5, 18))


def test_a_fence_sits_between_the_batch_it_counted_and_the_next():
    now = 1_800_000_000
    assert stream_version(4) < fence_version(4, now) < stream_version(5)
    assert fence_version(None, now) < stream_version(0)
    assert fence_version(4, now) < fence_version(4, now + 1)  # a later backfill at the same batch
