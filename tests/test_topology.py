"""`topology.beside`: a batch's write run in a thread beside the rest, with the batch's session."""

from __future__ import annotations

import threading
import time

import pytest
from delta.tables import DeltaTable

from settlement.tables import transaction
from settlement.topology import beside


def test_work_beside_a_block_runs_with_it_commits_with_the_batch_session_and_fails_the_block(spark, tmp_path):
    # Spark runs each micro-batch in a session of its own; Delta reads a commit's settings (the
    # batch's mark) from the thread's active session, not from the DataFrame's.
    batch = spark.newSession()
    path = str(tmp_path / "table")
    block_began = threading.Event()

    def write() -> None:
        assert block_began.wait(60), "the work did not run while the block ran"
        batch.range(1).write.format("delta").mode("append").save(path)

    with transaction(batch, note="settlement-q1 batch 7"), beside(batch, write):
        block_began.set()
    assert DeltaTable.forPath(spark, path).history(1).first().userMetadata == "settlement-q1 batch 7"

    with pytest.raises(ZeroDivisionError), beside(batch, lambda: 1 // 0):
        pass

    # The block's own failure is raised once the work is done: no write of a failed batch goes on after it.
    done: list[bool] = []
    with pytest.raises(KeyError), beside(batch, lambda: (time.sleep(0.5), done.append(True))):
        raise KeyError("the base")
    assert done == [True]
