"""Bars the research tests make: a random walk, or returns with a planted AR(1) dependence, and tiny experiments."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from ..support import SMALL

TINY = {
    "features": {"features": [{"kind": f.kind, "params": dict(f.params)} for f in SMALL.features]},
    "labels": {"kind": "binary", "horizon": 1},
    "model": {"name": "lstm", "params": {"hidden": [4], "dropout": 0.0, "cell_dropout": 0.0}},
    "window": 10,
    "train": {"epochs": 2, "lr": 0.01, "batch_size": 64},
    "walk_forward": {"train": 400, "test": 300},
    "seeds": 1,
    "baselines": ["majority"],
    "export": False,
}
"""An experiment that runs in seconds: three quick features, a 4-unit LSTM, two epochs (add `data`)."""


def ar1_bars(n: int, phi: float, seed: int) -> pd.DataFrame:
    """Daily bars whose log returns follow r[t] = phi * r[t-1] + noise (phi 0: a geometric random walk).

    Opens, highs, lows and volumes are drawn independently of the returns, so with phi = 0 nothing
    about a bar tells anything about the next one.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.01, n)
    returns = np.empty(n)
    returns[0] = noise[0]
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + noise[t]
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(13, 0.3, n).round()
    index = pd.bdate_range("2001-01-01", periods=n, name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def write_experiment(folder: Path, bars: pd.DataFrame, **changes: Any) -> Path:
    """bars.csv and exp.yaml (TINY with `changes`, top-level keys replaced) in `folder`; the experiment's path."""
    folder.mkdir(parents=True, exist_ok=True)
    bars.to_csv(folder / "bars.csv")
    doc = {"data": {"path": "bars.csv"}, **TINY, **changes}
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def read_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each table of an HTML page, by its id, as a list of {header: cell text} rows."""
    parser = _Tables()
    parser.feed(text)
    return {ident: [dict(zip(rows[0], row, strict=False)) for row in rows[1:]] for ident, rows in parser.tables.items()}


class _Tables(HTMLParser):
    """{table id: rows of cell texts, the header row first}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fails the code inside with TimeoutError once it runs past `seconds` (SIGALRM: the main thread, on Linux
    and macOS; elsewhere no limit)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


RAY_SHUTDOWN_WAIT = 15.0
"""Seconds a local Ray instance's processes get to exit after ray.shutdown()."""


@contextmanager
def local_ray(reason: str) -> Iterator[Any]:
    """A local Ray instance of 2 CPUs (not RAY_ADDRESS's), skipping with `reason` without Ray; shut down after,
    with no process of it left behind."""
    ray = pytest.importorskip("ray", reason=reason)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    session_dir = ray._private.worker._global_node.get_session_dir_path()
    try:
        yield ray
    finally:
        ray.shutdown()
    deadline = time.monotonic() + RAY_SHUTDOWN_WAIT
    while (left := _ray_processes(session_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ray.is_initialized()
    if sys.platform.startswith("linux"):
        assert not left, f"Ray processes left after ray.shutdown(): {left}"


def _ray_processes(session_dir: str) -> list[str]:
    """Command lines of live processes that belong to the Ray session in `session_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(
                (line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")), ""
            )
        except OSError:
            continue
        if session_dir in cmdline and "zombie" not in state:
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found
