"""Parameter sweeps: every point of a grid of `run_backtest` keywords, backtested in parallel processes."""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from signalstack.core.errors import SettingsError
from signalstack.transport.security import ClientSecurity

from . import defaults
from .backtest import run_backtest
from .sources import SignalSource, open_source

_MAX_POINTS = 10_000
"""A grid larger than this is almost certainly a typo in a step."""

_SHOWN = (
    ("total_return", "{:.2%}"),
    ("sharpe", "{:.2f}"),
    ("max_drawdown", "{:.2%}"),
    ("trades", "{:.0f}"),
    ("signal_hit_rate", "{:.1%}"),
    ("buy_and_hold", "{:.2%}"),
)
"""Columns of `format_sweep` after the swept ones, with their formats."""


def parse_sweep(text: str) -> tuple[str, list[float | int]]:
    """``NAME=START:STOP:STEP`` (STOP included) or ``NAME=V1,V2,...`` as a name and its values.

    Values written without a decimal point stay integers (e.g. ``hold=1:5:2``).
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise SettingsError(f"--sweep {text!r}: expected NAME=START:STOP:STEP or NAME=V1,V2,...")
    parts = spec.split(":") if ":" in spec else spec.split(",")
    integral = not any("." in p or "e" in p.lower() for p in parts)
    try:
        numbers = [int(p) if integral else float(p) for p in parts]
    except ValueError:
        raise SettingsError(f"--sweep {text!r}: {spec!r} are not numbers (expected e.g. 0.5:0.7:0.05)") from None
    if ":" not in spec:
        return name.strip(), numbers
    if len(numbers) != 3 or numbers[2] <= 0 or numbers[1] < numbers[0]:
        raise SettingsError(f"--sweep {text!r}: expected START:STOP:STEP with START <= STOP and STEP > 0")
    start, stop, step = numbers
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > _MAX_POINTS:
        raise SettingsError(f"--sweep {text!r}: {count} values, expected at most {_MAX_POINTS}")
    values = [start + i * step for i in range(count)]
    return name.strip(), values if integral else [round(v, 10) for v in values]


def sweep_grid(specs: Sequence[str]) -> list[dict[str, float | int]]:
    """Every combination of the values of `--sweep` specs, as keyword dicts, the last spec varying fastest."""
    axes = dict(parse_sweep(spec) for spec in specs)
    if len(axes) != len(specs):
        raise SettingsError(f"--sweep {', '.join(specs)}: a parameter is swept twice")
    grid = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    if len(grid) > _MAX_POINTS:
        raise SettingsError(f"sweep of {len(grid)} points: expected at most {_MAX_POINTS}")
    return grid


def run_sweep(
    source: str | SignalSource,
    bars: pd.DataFrame | Mapping[str, pd.DataFrame],
    grid: Sequence[Mapping[str, Any]],
    *,
    workers: int = defaults.SWEEP_WORKERS,
    progress: bool = True,
    security: ClientSecurity | None = None,
    **fixed: Any,
) -> pd.DataFrame:
    """Backtest every grid point on every symbol in `workers` processes; one row per (symbol, point).

    `source` is a spec for `open_source`, with `security` (token, TLS) for a server (each
    worker opens its own: ONNX sessions and channels do not cross processes), or a picklable
    source such as a `PrecomputedSource`. `fixed` keywords go
    to every `run_backtest`. Rows hold the symbol, the point's values, the strategy's stats,
    buy-and-hold's total return, and `error` (empty, or why run_backtest refused the point, e.g.
    sell_threshold above buy_threshold), in grid order.
    """
    if workers < 1:
        raise SettingsError(f"workers {workers}: expected at least 1 process")
    universe = {"": bars} if isinstance(bars, pd.DataFrame) else dict(bars)
    tasks = [(symbol, dict(point)) for symbol in universe for point in grid]
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads (onnxruntime, gRPC)
    with (
        ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(source, security, universe, fixed),
        ) as pool,
        tqdm(total=len(tasks), desc="sweep", unit="backtest", disable=not progress) as bar,
    ):
        futures = {pool.submit(_backtest_point, symbol, point): i for i, (symbol, point) in enumerate(tasks)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            bar.update()
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in frame.columns if c != "error"] + ["error"]]
    return frame.drop(columns="symbol") if list(universe) == [""] else frame


def format_sweep(results: pd.DataFrame, swept: Sequence[str]) -> str:
    """The sweep as a text table: the swept values, the main stats in percent, errors if any."""
    shown = results[[c for c in ("symbol", *swept) if c in results]].copy()
    for column, fmt in _SHOWN:
        if column not in results:
            continue  # every point failed
        shown[column] = results[column].map(lambda v, fmt=fmt: "-" if pd.isna(v) else fmt.format(v))
    if (results["error"] != "").any():
        shown["error"] = results["error"]
    return shown.to_string(index=False)


# Per worker process: the opened source, the bars and the fixed keywords, set once by the initializer.
_worker: dict[str, Any] = {}


def _start_worker(
    source: str | SignalSource,
    security: ClientSecurity | None,
    universe: Mapping[str, pd.DataFrame],
    fixed: Mapping[str, Any],
) -> None:
    _worker.update(
        source=open_source(source, security=security) if isinstance(source, str) else source,
        universe=universe,
        fixed=fixed,
    )


def _backtest_point(symbol: str, point: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": symbol, **point}
    try:
        result = run_backtest(
            _worker["source"], _worker["universe"][symbol], symbol=symbol, **{**_worker["fixed"], **point}
        )
    except ValueError as exc:
        return {**row, "error": str(exc)}
    return {**row, **result.stats.to_dict(), "buy_and_hold": result.benchmark["total_return"], "error": ""}
