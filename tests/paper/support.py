"""Helpers of the paper-trading tests: the quick feature spec, the replay's shape, the command line, reading
a journal a run may be writing, waiting for a condition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.features import Feature, FeatureSpec
from signalstack.paper.journal import Event, Journal

QUICK = FeatureSpec((Feature("ret", {"n": 1}), Feature("ma_ratio", {"n": 3}), Feature("volatility", {"n": 5})))
"""Features with a 5-bar warm-up: a model needs 15 bars of history, so replays stay short."""

BARS = 200
"""Bars in the replay file: START_BAR of warm-up history, then the rest traded live."""

START_BAR = 40


def paper_args(
    model: Path, csv: Path, start: str, thresholds: dict[str, float], *extra: str, pace: float = 0
) -> list[str]:
    """`paper run` flags trading `csv` from `start` with `thresholds`, short selling allowed."""
    return [
        "--model",
        str(model),
        "--feed",
        f"replay:{csv}?pace={pace}&start={start}",
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--allow-short",
        *extra,
    ]


def signalstack(
    args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the `signalstack` command in a fresh process (so it can be killed) and return its result."""
    result = subprocess.run(
        [sys.executable, "-m", "signalstack.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def start_signalstack(args: Sequence[str]) -> subprocess.Popen[str]:
    """Start the `signalstack` command in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "signalstack.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class Recorder(bt.Strategy):
    """Records what a feed delivers: each bar's time and close, and each status it notifies (DELAYED, LIVE...)."""

    def __init__(self) -> None:
        self.seen: list[tuple[pd.Timestamp, float]] = []
        self.statuses: list[str] = []

    def notify_data(self, data: bt.AbstractDataBase, status: int, *args: object, **kwargs: object) -> None:
        self.statuses.append(data._getstatusname(status))

    def next(self) -> None:
        self.seen.append((pd.Timestamp(self.data.datetime.datetime(0)), self.data.close[0]))


def journal_events(path: Path, *kinds: str) -> list[Event]:
    """The events of `kinds` (every kind when none) of the journal at `path`, as a reader sees them."""
    with Journal(path, readonly=True) as journal:
        return journal.events(kinds)


def same_ids(events: Sequence[Event]) -> list[Event]:
    """`events` with each order id (in keys and payloads) replaced by what names the order alike in every run of
    the same bars: its symbol, bar and number among that bar's orders. Ids derive from the run id, which is new
    for every run, so two runs are compared this way."""
    names: dict[str, str] = {}
    numbers: Counter[tuple[str | None, str | None]] = Counter()
    for event in events:
        if event.kind == "order":
            numbers[event.symbol, event.time] += 1
            names[event.payload.order_id] = f"{event.symbol}|{event.time}|{numbers[event.symbol, event.time]}"

    def renamed(event: Event) -> Event:
        payload = event.payload
        if getattr(payload, "open_orders", None):  # a --top-k run's account names its open orders
            payload = replace(payload, open_orders=tuple(names.get(o, o) for o in payload.open_orders))
        order_id = getattr(payload, "order_id", None)
        if order_id is None:
            return replace(event, payload=payload)
        name = names[order_id]
        return replace(event, key=event.key.replace(order_id, name), payload=replace(payload, order_id=name))

    return [renamed(event) for event in events]


def status_json(journal: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`paper status --json` of `journal`, as printed (what was captured before is dropped)."""
    capsys.readouterr()
    assert main(["paper", "status", "--journal", str(journal), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def journal_count(path: Path, kind: str) -> int:
    """Events of `kind` in a journal a run may still be creating (0 until it can be read)."""
    if not path.exists():
        return 0
    try:
        with Journal(path, readonly=True) as journal:
            return journal.counts()[kind]
    except Exception:
        return 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Return once `condition()` holds; fail naming `what` after `timeout` seconds (the machine may be busy)."""
    ends = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < ends, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.02)
