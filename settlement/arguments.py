"""Command lines for schedulers and people: one line on a bad argument (exit code 2) or a failure."""

from __future__ import annotations

import argparse
from datetime import date
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit 2, for a scheduler's log; `--help` shows the usage."""
        self.exit(2, f"{self.prog.split()[0]}: {message} (see --help)\n")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-05-19") from None


def one_line(error: BaseException) -> str:
    """The first line of an error (Spark's run to pages), for a scheduler's log."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
