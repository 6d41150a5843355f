"""Logging: human-readable lines by default, one JSON object per line with MONITOR_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every coordinator step and several lines per failed connection attempt; the
    # daemon logs one line per state change itself, so kafka-python speaks only at DEBUG.
    logging.getLogger("kafka").setLevel(root.level if root.level <= logging.DEBUG else logging.CRITICAL)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # APScheduler logs two INFO lines per job run (every minute): noise that would bury state changes.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
