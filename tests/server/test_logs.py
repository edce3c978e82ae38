"""JSON log lines: one object per record, tracebacks included."""

from __future__ import annotations

import json
import logging
import sys
from types import TracebackType

from signalstack.server.logs import JsonFormatter

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _record(exc_info: ExcInfo | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "signalstack.server.rpc",
        logging.INFO,
        __file__,
        1,
        "Predict refused: %s %s",
        ("NOT_FOUND", "model 'x' not found"),
        exc_info,
    )


def test_a_record_is_one_line_of_json() -> None:
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "Predict refused: NOT_FOUND model 'x' not found"
    assert (entry["level"], entry["logger"], entry["process"]) == ("INFO", "signalstack.server.rpc", "MainProcess")
    assert entry["time"].endswith("+00:00")


def test_a_traceback_stays_on_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(sys.exc_info())  # type: ignore[arg-type]
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]
