"""The job's log lines: text for a person, or one JSON object per line for a log pipeline
(`monitoring.log_format`). A batch's line carries its figures as fields (`extra={"fields": ...}`),
which the JSON form spells out: batch id, counts, seconds per stage."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(form: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if form == "json" else logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # py4j says at INFO each time the JVM calls into Python and each connection it closes: lines
    # a batch that tell an operator nothing.
    logging.getLogger("py4j").setLevel(logging.WARNING)
