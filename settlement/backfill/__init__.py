"""Backfill: a range of the past processed again, in batch mode, by the stream's own stages.

    topic     payment topic records in a range of offsets ─┐
    log       payment_log records of a range of dates     ─┴▶ validate ─▶ payment_log, quarantine (if absent)
                                                                       ├▶ FINISH ─▶ day_close
                                                                       └▶ PAYMENT ─▶ derive ─▶ settlement_base (new ids)
    rederive  settlement_base rows of a range of dates ─▶ classify ─▶ payout rule ─▶ settlement_base (changed rows)

    and then, for every approval date touched: approval_daily_stats set to the GROUP BY over the
    base ─▶ statistics topic (rows that changed; a key that left the table as a tombstone).

The work comes in units (an approval date, or a slice of offsets), each planned, summarised and,
unless this is a dry run, written. Every write is idempotent: records and payments go in only when
absent, base rows change only where a derived value differs, statistics are set and not added. So
the same backfill twice changes nothing the second time. How a backfill and the running stream stay
out of each other's counting is in `settlement.statistics_fence`; one backfill runs at a time, and
`backfill_runs` holds the lock.

    scope   what to process: approval dates, or offsets of the topic
    writes  the idempotent writes, and re-derivation
    run     the units of work
    report  what a run did, per approval date
    lock    one backfill at a time
    job     the command line
"""

from settlement.exits import Failed


class BackfillError(Failed):
    """The backfill cannot go on; the message is the one line we print."""
