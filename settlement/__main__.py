"""`python -m settlement <command>`: the operator's questions, answered from the tables (see settlement.cli)."""

from settlement.cli import run

run()
