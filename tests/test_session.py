"""The session's settings that the batches' cost depends on, as PySpark sees them."""

from __future__ import annotations

from pyspark.errors.utils import is_debugging_enabled


def test_plans_are_built_without_recording_each_call_site(spark):
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
    # PySpark reads the setting once, from the first active session, and keeps it.
    assert not is_debugging_enabled()
