"""Server and worker logs: one JSON object per line by default, so that a log collector reads each
request and each run event as fields, not as prose.

A record's own fields go in ``extra={"fields": {...}}``; the line gets them beside ``time``,
``level``, ``logger`` and ``message``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s %(fields)s"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _FieldsAsText(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        record.fields = json.dumps(fields, ensure_ascii=False, default=str) if fields else ""
        return super().format(record).rstrip()


def configure_logging(log_format: str) -> None:
    """Every record of the process (uvicorn's included) to stderr, in ``log_format``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else _FieldsAsText(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error"):  # theirs, when uvicorn.run is given no log config
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
