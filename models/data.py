"""OHLCV bars: loading from CSV, the bundled samples or a DataFrame, and validation.

Every other module works on the frame `load_bars` returns: a tz-naive, strictly increasing
DatetimeIndex named ``time`` and float columns ``open, high, low, close, volume``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLES = ("sp500", "nasdaq")
"""Daily bars shipped by the `arch` package (1999-2018, NCSA licence), reachable as ``sample:NAME``."""

# Tolerance for the high/low envelope check: published bars are rounded to a few decimals.
_ENVELOPE_TOL = 1e-6


class BarsError(ValueError):
    """Bars that cannot be used; the message names the source, row and column."""


def load_bars(source: str | Path | pd.DataFrame, *, adjust: bool = True) -> pd.DataFrame:
    """Bars from a CSV path, ``sample:sp500`` / ``sample:nasdaq``, or a DataFrame, validated.

    ``adjust`` rescales open/high/low/close by ``Adj Close / Close`` when the source has an
    adjusted close, so splits and dividends do not show up as returns.
    """
    if isinstance(source, pd.DataFrame):
        return _normalise(source.copy(), "DataFrame", adjust)
    text = str(source)
    if text.startswith("sample:"):
        return _normalise(_sample_frame(text.removeprefix("sample:")), text, adjust)
    path = Path(text)
    if not path.is_file():
        raise BarsError(f"{path}: no such file (expected a CSV of OHLCV bars or sample:{'|'.join(SAMPLES)})")
    return _normalise(_read_csv(path), str(path), adjust)


def _sample_frame(name: str) -> pd.DataFrame:
    if name not in SAMPLES:
        raise BarsError(f"sample:{name}: unknown sample (expected one of {', '.join(SAMPLES)})")
    if name == "sp500":
        from arch.data import sp500 as module
    else:
        from arch.data import nasdaq as module
    return module.load()


def _read_csv(path: Path) -> pd.DataFrame:
    """Yahoo (`Date,...,Adj Close,Volume`) or Backtrader generic CSV, with or without a Time column.

    Backtrader's minute files sometimes carry date and time as two fields under a header that
    names only `Date`; such rows are detected by their field count.
    """
    with path.open() as fh:
        header = [h.strip() for h in fh.readline().split(",")]
        first = fh.readline().split(",")
    if len(first) == len(header) + 1 and "Time" not in header:
        header = [header[0], "Time", *header[1:]]
        frame = pd.read_csv(path, header=None, skiprows=1, names=header, na_values=["null", "NaN", ""])
    else:
        frame = pd.read_csv(path, na_values=["null", "NaN", ""])
    frame.columns = [str(c).strip() for c in frame.columns]
    if "Date" not in frame.columns:
        raise BarsError(f"{path}: no Date column (header: {', '.join(frame.columns)})")
    stamp = frame.pop("Date").astype(str)
    if "Time" in frame.columns:
        stamp = stamp + " " + frame.pop("Time").astype(str)
    try:
        frame.index = pd.to_datetime(stamp)
    except (ValueError, TypeError) as exc:
        raise BarsError(f"{path}: unparseable Date/Time ({exc})") from exc
    return frame


def _normalise(frame: pd.DataFrame, source: str, adjust: bool) -> pd.DataFrame:
    frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
    if not isinstance(frame.index, pd.DatetimeIndex):
        for name in ("date", "datetime", "time"):
            if name in frame.columns:
                frame = frame.set_index(pd.to_datetime(frame.pop(name)))
                break
        else:
            raise BarsError(f"{source}: needs a DatetimeIndex or a date/datetime column")
    if frame.index.tz is not None:
        frame.index = frame.index.tz_convert("UTC").tz_localize(None)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BarsError(f"{source}: missing column(s) {', '.join(missing)} (have {', '.join(frame.columns)})")
    bars = _drop_empty_rows(frame[list(COLUMNS)].apply(pd.to_numeric, errors="coerce").astype("float64"), source)
    bars.index.name = "time"
    validate_bars(bars, source)
    if adjust and "adj_close" in frame.columns:
        adj = pd.to_numeric(frame["adj_close"], errors="coerce").loc[bars.index].to_numpy(dtype="float64")
        _fail_where(source, {"adj_close": adj}, bars.index, ~(adj > 0), "adj_close", "expected a price > 0")
        ratio = adj / bars["close"].to_numpy()
        for col in ("open", "high", "low", "close"):
            bars[col] = bars[col].to_numpy() * ratio
    return bars


def _drop_empty_rows(bars: pd.DataFrame, source: str) -> pd.DataFrame:
    """Yahoo files mark holidays with all-'null' rows; those carry no bar and are dropped, counted."""
    empty = bars.isna().all(axis=1)
    if empty.any():
        log.warning("%s: dropped %d row(s) with no values (first at %s)", source, int(empty.sum()),
                    bars.index[empty.to_numpy()][0])
        bars = bars.loc[~empty]
    return bars


def validate_bars(bars: pd.DataFrame, source: str = "bars") -> None:
    """Raise `BarsError` naming the first bad row and column; return None for clean bars."""
    if len(bars) == 0:
        raise BarsError(f"{source}: no bars")
    index = bars.index
    step = np.diff(index.asi8)
    if (step <= 0).any():
        row = int(np.argmax(step <= 0)) + 1
        kind = "duplicate" if step[row - 1] == 0 else "out-of-order"
        raise BarsError(f"{source} row {row + 1}: {kind} timestamp {index[row]} after {index[row - 1]}")
    check_values({c: bars[c].to_numpy(dtype="float64") for c in COLUMNS}, source, bars.index)


def check_values(values: Mapping[str, np.ndarray], source: str = "bars", index: Sequence[Any] | None = None) -> None:
    """Raise `BarsError` for the first non-finite value, price <= 0, negative volume or broken envelope."""
    if _clean(values):
        return
    for col in COLUMNS:
        _fail_where(source, values, index, ~np.isfinite(values[col]), col, "expected a finite number")
    for col in ("open", "high", "low", "close"):
        _fail_where(source, values, index, values[col] <= 0, col, "expected a price > 0")
    _fail_where(source, values, index, values["volume"] < 0, "volume", "expected volume >= 0")
    top = np.maximum(values["open"], values["close"]) * (1 - _ENVELOPE_TOL)
    bottom = np.minimum(values["open"], values["close"]) * (1 + _ENVELOPE_TOL)
    _fail_where(source, values, index, values["high"] < top, "high", "expected high >= max(open, close)")
    _fail_where(source, values, index, values["low"] > bottom, "low", "expected low <= min(open, close)")


def _clean(values: Mapping[str, np.ndarray]) -> bool:
    """Whether `values` pass every check of `check_values`, in a few array passes: clean bars, the usual
    case on every served request, skip the search for the first bad row. Positive lows inside the
    envelope imply positive opens, highs and closes."""
    open_, high, low, close, volume = (values[c] for c in COLUMNS)
    top = np.maximum(open_, close) * (1 - _ENVELOPE_TOL)
    bottom = np.minimum(open_, close) * (1 + _ENVELOPE_TOL)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isfinite(high + low + volume + top + bottom).all() and (low > 0).all() and (volume >= 0).all()
                    and (high >= top).all() and (low <= bottom).all())


def _fail_where(source: str, values: Mapping[str, np.ndarray], index: Sequence[Any] | None, bad: np.ndarray,
                col: str, expected: str) -> None:
    """Raise for the first True in `bad`; rows are counted from 1, a CSV header not included."""
    if bad.any():
        row = int(np.argmax(bad))
        when = f" ({index[row]})" if index is not None else ""
        raise BarsError(f"{source} row {row + 1}{when}: {col} {values[col][row]:g}, {expected}")
