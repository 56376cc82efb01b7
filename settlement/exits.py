"""Exit codes: one policy for every entry point (the stream, the backfill, maintenance, the
reference loader, the summary, the sample producer, the operator's command, the benchmarks), so a
scheduler or a monitor can act on the code alone:

    0    done
    1    failed while running: the broker did not answer or a topic is missing, the stream stopped
         on a failed batch, another backfill holds the lock, nothing matched the operator's question,
         or Spark or Delta failed. Running again may cure it; if not, it needs a look.
    2    cannot run as given: a bad argument or setting, a missing build artefact (the dedup jar),
         the operator's command before any table exists.
         Running again changes nothing until the command or the settings are fixed.
    130  interrupted (Ctrl-C)

`python -m settlement status` is the one exception: a probe, its code is its answer (0 healthy,
1 needs a look, 2 stopped or behind; `settlement.status`).

An error tells which it is by its class (`CannotRun`, `Failed`); any other exception is a failure,
logged with its trace for an engineer. Whatever the code, stderr gets one line: `program: what`.
"""

from __future__ import annotations

import logging
import sys
from enum import IntEnum

from settlement.arguments import one_line


class Exit(IntEnum):
    DONE = 0
    FAILED = 1
    CANNOT_RUN = 2
    INTERRUPTED = 130


class CannotRun(Exception):
    """The command cannot run as given; the message, one line, says what to fix."""


class Failed(Exception):
    """The command failed while running; the message, one line, says what happened."""


def code(error: BaseException) -> Exit:
    if isinstance(error, KeyboardInterrupt):
        return Exit.INTERRUPTED
    if isinstance(error, CannotRun):
        return Exit.CANNOT_RUN
    return Exit.FAILED


def report(program: str, error: BaseException) -> Exit:
    """Print the one line `error` deserves (an unexpected one's trace goes to the log first) and
    return its exit code."""
    if isinstance(error, KeyboardInterrupt):
        return Exit.INTERRUPTED
    line = one_line(error)
    if not isinstance(error, (CannotRun, Failed)):
        logging.getLogger(program).error("%s failed", program, exc_info=error)
        line = f"failed: {line}"
    print(f"{program}: {line}", file=sys.stderr, flush=True)
    return code(error)
