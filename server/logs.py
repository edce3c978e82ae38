"""One JSON object per log line, for log shippers: what `signalstack serve --log-format json` installs.

Each line carries the time, level, logger, process name and message, plus the traceback when
there is one, so records from worker processes stay attributable after they are merged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted, e.g. by a QueueHandler in a worker process
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
