"""OHLCV bars: loading from CSV, the bundled samples or a DataFrame, and validation.

Every other module works on the frame `load_bars` returns: a tz-naive, strictly increasing
DatetimeIndex named ``time`` and float columns ``open, high, low, close, volume``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInput

log = logging.getLogger(__name__)

COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLES = ("sp500", "nasdaq")
"""Daily bars shipped by the `arch` package (1999-2018, NCSA licence), reachable as ``sample:NAME``."""

# Tolerance for the high/low envelope check: published bars are rounded to a few decimals.
_ENVELOPE_TOL = 1e-6


class BarsError(InvalidInput):
    """Bars that cannot be used; the message names where they came from, the row and the column."""


def load_bars(data: str | Path | pd.DataFrame, *, adjust: bool = True) -> pd.DataFrame:
    """Bars from a CSV path, ``sample:sp500`` / ``sample:nasdaq``, or a DataFrame, validated.

    Column names are read in any letter case (and without MetaTrader's angle brackets); the time
    comes from one Date, Datetime, Timestamp or Time column, or from Date and Time side by side
    (see `_read_csv` for the vendor layouts). Volume is Volume/Vol, or tick volume where that is
    missing or 0 throughout (MetaTrader's <TICKVOL> next to <VOL>).

    ``adjust`` rescales open/high/low/close by ``Adj Close / Close`` when the bars have an
    adjusted close, so splits and dividends do not show up as returns.
    """
    if isinstance(data, pd.DataFrame):
        return _normalise(data.copy(), "DataFrame", adjust)
    text = str(data)
    if text.startswith("sample:"):
        return _normalise(_sample_frame(text.removeprefix("sample:")), text, adjust)
    path = Path(text)
    if not path.is_file():
        raise BarsError(f"{path}: no such file (expected a CSV of OHLCV bars or sample:{'|'.join(SAMPLES)})")
    return _normalise(_read_csv(path), str(path), adjust)


SYMBOL = re.compile(r"^[A-Za-z0-9_.^-]+$")
"""A name a `SYMBOL=PATH` spec may give its series."""


def named_spec(spec: str) -> tuple[str, str] | None:
    """(SYMBOL, PATH) of a `SYMBOL=PATH` spec, None for a plain path or sample."""
    name, sep, path = spec.partition("=")
    return (name, path) if sep and path and SYMBOL.match(name) else None


def load_symbols(specs: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Bars per symbol from `load_bars` specs, in order: named by `SYMBOL=PATH`, else by the file stem
    or sample name (made distinct with _2, _3, ...)."""
    universe: dict[str, pd.DataFrame] = {}
    for spec in specs:
        named = named_spec(spec)
        if named is not None:
            name, path = named
            if name in universe:
                raise BarsError(f"{spec}: symbol {name!r} given twice (expected distinct SYMBOL=PATH names)")
        else:
            path = spec
            base = spec.removeprefix("sample:") if spec.startswith("sample:") else Path(spec).stem
            name, n = base, 1
            while name in universe:
                n += 1
                name = f"{base}_{n}"
        universe[name] = load_bars(path)
    return universe


def _sample_frame(name: str) -> pd.DataFrame:
    if name not in SAMPLES:
        raise BarsError(f"sample:{name}: unknown sample (expected one of {', '.join(SAMPLES)})")
    if name == "sp500":
        from arch.data import sp500 as module
    else:
        from arch.data import nasdaq as module
    return module.load()


_HEADER_EXAMPLE = "Date,Open,High,Low,Close,Volume"
_TIME_EXPECTED = "one of Date, Datetime, Timestamp, Time, or Date and Time side by side"
_NA = ["null", "NaN", ""]

_ROLES: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "time": ("time",),
    "datetime": ("datetime", "timestamp"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "adj_close": ("adjclose", "adjustedclose"),
    "volume": ("volume", "vol", "realvolume"),
    "tick_volume": ("tickvol", "tickvolume"),
}
"""What each column of a header means, by its key: the name in lower case without MetaTrader's angle
brackets, spaces, dots or underscores (`<TICKVOL>` -> tickvol, `Adj Close` -> adjclose)."""
_ROLE_OF = {key: role for role, keys in _ROLES.items() for key in keys}


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.strip().strip("<>").lower())


def _read_csv(path: Path) -> pd.DataFrame:
    """The file's rows as text, under its own header; comma, tab or semicolon separated, names in any case.

    Layouts: Yahoo (`Date,Open,High,Low,Close,Adj Close,Volume`), Stooq (`Date,Open,...,Volume`, or
    `<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,...` with dates like 20180102 and times like 093000),
    Backtrader's generic CSV (`Date[,Time],Open,High,Low,Close,Volume,OpenInterest`), MetaTrader 5's
    bar export (tab-separated `<DATE> <TIME> <OPEN> ... <TICKVOL> <VOL> <SPREAD>`, dates like
    2018.01.02). Backtrader's minute files sometimes carry date and time as two fields under a
    header that names only `Date`; such rows are detected by their field count and a time-like
    second field.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
            first = fh.readline()
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc) from None
    if not line.strip():
        what = "empty file" if not line else "empty first line"
        raise BarsError(f"{path}: {what} (expected a header such as {_HEADER_EXAMPLE}, then one bar per line)")
    sep = separator(line)
    header = [h.strip() for h in next(csv.reader([line], delimiter=sep))]
    if not any(_key(h) in _ROLE_OF for h in header) and any(_looks_like_data(h) for h in header):
        raise BarsError(f"{path}: no header line (first line {line.strip()!r} looks like a bar; expected column "
                        "names first, such as Date,Time,Open,High,Low,Close,Volume)")
    roles = header_roles(header, str(path))
    at = split_time_at(header, roles, next(csv.reader([first], delimiter=sep), []))
    if at is not None:
        header.insert(at, "Time")
    names = _distinct(header)
    try:
        frame = pd.read_csv(path, sep=sep, header=None, skiprows=1, names=names, dtype=str, na_values=_NA,
                            skipinitialspace=True, index_col=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc) from None
    except (pd.errors.ParserError, ValueError) as exc:
        text = " ".join(str(exc).split())
        counts = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if counts:
            want, at, saw = map(int, counts.groups())
            raise BarsError(f"{path} row {at - 1}: {saw} fields, expected {want} like the header") from None
        raise BarsError(f"{path}: not readable as CSV ({text})") from None
    return frame


def _not_text(path: Path, exc: UnicodeDecodeError) -> BarsError:
    return BarsError(f"{path}: not a text file ({exc.reason}; expected a UTF-8 CSV of OHLCV bars)")


def _looks_like_data(field: str) -> bool:
    return bool(re.fullmatch(r"[-+]?\d[\d.:/ -]*", field.strip()))


def split_time_at(header: Sequence[str], roles: Mapping[str, str], fields: Sequence[str]) -> int | None:
    """Where a row carries a time its header does not name, else None: Backtrader's minute files put date
    and time in two fields under a header that names only Date, so such a row has one field more than the
    header and a time-like field right after the date."""
    if len(fields) != len(header) + 1 or "date" not in roles or {"time", "datetime"} & roles.keys():
        return None
    at = list(header).index(roles["date"]) + 1
    return at if _looks_like_time(fields[at]) else None


def _looks_like_time(field: str) -> bool:
    return bool(re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?|\d{4}|\d{6}", field.strip()))


def _distinct(names: list[str]) -> list[str]:
    """Names pandas accepts: a repeat of a column no role reads (two blank trailing names) gets a suffix."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


def separator(header_line: str) -> str:
    """The field separator of a CSV of bars, from its header line: tab, semicolon or comma."""
    return "\t" if "\t" in header_line else ";" if header_line.count(";") > header_line.count(",") else ","


def header_roles(names: Sequence[str], what: str) -> dict[str, str]:
    """{role: column name} for the columns a role reads (`_ROLES`: date, time, datetime, open, ..., volume,
    adj_close, tick_volume); a role two columns claim is an error naming both."""
    claimed: dict[str, list[str]] = {}
    for name in names:
        role = _ROLE_OF.get(_key(name))
        if role is not None:
            claimed.setdefault(role, []).append(name)
    for role, columns in claimed.items():
        if len(columns) > 1:
            raise BarsError(f"{what}: ambiguous header: {' and '.join(columns)} both read as {role} "
                            f"(expected one {role} column; header: {', '.join(names)})")
    stamps = [claimed[r][0] for r in ("date", "time", "datetime") if r in claimed]
    if "datetime" in claimed and len(stamps) > 1:
        raise BarsError(f"{what}: ambiguous header: time columns {', '.join(stamps)} (expected {_TIME_EXPECTED}; "
                        f"header: {', '.join(names)})")
    return {role: columns[0] for role, columns in claimed.items()}


def _normalise(frame: pd.DataFrame, what: str, adjust: bool) -> pd.DataFrame:
    if isinstance(frame.columns, pd.MultiIndex) and all(
            frame.columns.get_level_values(i).nunique() == 1 for i in range(1, frame.columns.nlevels)):
        frame.columns = frame.columns.get_level_values(0)  # yfinance's (Price, Ticker) columns for one ticker
    names = [str(c).strip() for c in frame.columns]
    frame.columns = names
    roles = header_roles(names, what)
    if isinstance(frame.index, pd.DatetimeIndex):
        index = frame.index if frame.index.tz is None else frame.index.tz_convert("UTC").tz_localize(None)
    else:
        index = _time_index(frame, roles, what, names)
    if "tick_volume" in roles and ("volume" not in roles or _all_zero(frame[roles["volume"]])):
        if "volume" in roles:
            log.info("%s: volume from %s (%s is 0 throughout)", what, roles["tick_volume"], roles["volume"])
        roles["volume"] = roles["tick_volume"]
    missing = [c for c in COLUMNS if c not in roles]
    if missing:
        raise BarsError(f"{what}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)} in any "
                        f"letter case; have {', '.join(names)})")
    wanted = [*COLUMNS, *(["adj_close"] if adjust and "adj_close" in roles else [])]
    raw = {col: frame[roles[col]].reset_index(drop=True) for col in wanted}
    numbers = {col: pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64") for col, text in raw.items()}
    for col, text in raw.items():
        if not pd.api.types.is_numeric_dtype(text.dtype):
            _fail_where(what, {col: text.to_numpy(dtype=object)}, index,
                        np.isnan(numbers[col]) & text.notna().to_numpy(), col, "expected a number", quote=True)
    bars = pd.DataFrame({col: numbers[col] for col in COLUMNS}, index=index)
    # Yahoo files mark holidays with all-'null' rows: checked as a clean placeholder so that rows
    # keep their numbers in errors, then dropped and counted.
    empty = bars.isna().all(axis=1).to_numpy()
    checked = bars.copy()
    checked.iloc[np.flatnonzero(empty)] = [1.0, 1.0, 1.0, 1.0, 0.0]
    validate_bars(checked, what)
    if "adj_close" in numbers:
        adj = numbers["adj_close"]
        _fail_where(what, {"adj_close": adj}, index, ~(adj > 0) & ~empty, "adj_close", "expected a price > 0")
    bars = _drop_empty_rows(bars, empty, what)
    if "adj_close" in numbers:
        ratio = numbers["adj_close"][~empty] / bars["close"].to_numpy()
        for col in ("open", "high", "low", "close"):
            bars[col] = bars[col].to_numpy() * ratio
    bars.index.name = "time"
    return bars


def _all_zero(column: pd.Series) -> bool:
    return bool((pd.to_numeric(column, errors="coerce").fillna(0) == 0).all())


def _time_index(frame: pd.DataFrame, roles: dict[str, str], what: str, names: Sequence[str]) -> pd.DatetimeIndex:
    """Bar times from the time column(s): ISO dates and times, MetaTrader's 2018.01.02, Stooq's 20180102
    with times like 093000, epoch seconds or milliseconds; offsets are converted to UTC."""
    if "datetime" in roles:
        columns = [roles["datetime"]]
    else:
        columns = [roles[r] for r in ("date", "time") if r in roles]
    if not columns:
        raise BarsError(f"{what}: no time column (expected {_TIME_EXPECTED}, in any letter case; "
                        f"header: {', '.join(names)})")
    parts = [frame[c].reset_index(drop=True) for c in columns]
    if len(parts) == 1 and pd.api.types.is_datetime64_any_dtype(parts[0].dtype):
        stamps = pd.to_datetime(parts[0], utc=True)
    elif len(parts) == 1 and pd.api.types.is_numeric_dtype(parts[0].dtype):  # a DataFrame's numbers
        whole = parts[0].dropna().mod(1).eq(0).all()
        stamps = _parse_stamps(parts[0].astype("Int64").astype(str).where(parts[0].notna())) if whole \
            else pd.to_datetime(parts[0], unit="s", utc=True)
    else:
        text = [p.astype(str).where(p.notna()).str.strip() for p in parts]
        if len(text) == 2:
            text[1] = text[1].str.replace(r"^(\d{2})(\d{2})(\d{2})?$", lambda m: ":".join(g for g in m.groups() if g),
                                          regex=True)
            stamps = _parse_stamps(_iso_dates(text[0]) + " " + text[1])
        else:
            stamps = _parse_stamps(text[0])
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        value = " ".join("" if pd.isna(p.iloc[row]) else str(p.iloc[row]) for p in parts)
        raise BarsError(f"{what} row {row + 1}: {'/'.join(columns)} {value!r}, expected a date or time such as "
                        "2020-01-02, 2020-01-02 09:30:00 or 2020.01.02")
    return pd.DatetimeIndex(stamps.dt.tz_localize(None))


def _iso_dates(text: pd.Series) -> pd.Series:
    """MetaTrader's 2018.01.02 and Stooq's 20180102 as 2018-01-02; other text as it is."""
    return text.str.replace(r"^(\d{4})\.?(\d{2})\.?(\d{2})(?=$|[ T])", r"\1-\2-\3", regex=True)


def _parse_stamps(text: pd.Series) -> pd.Series:
    """UTC timestamps, NaT where `text` is not one; the format is decided by the first value."""
    given = text.dropna()
    if len(given) and given.str.fullmatch(r"\d{9,10}|\d{12,13}").all():
        unit = "s" if len(given.iloc[0]) <= 10 else "ms"
        return pd.to_datetime(pd.to_numeric(text), unit=unit, utc=True)
    text = _iso_dates(text)
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    if len(given) and pd.isna(stamps.loc[given.index[0]]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": parsed one by one
            stamps = pd.to_datetime(text, utc=True, errors="coerce")
    return stamps


def _drop_empty_rows(bars: pd.DataFrame, empty: np.ndarray, what: str) -> pd.DataFrame:
    """Rows with no values carry no bar: dropped, counted in a warning."""
    if empty.any():
        log.warning("%s: dropped %d row(s) with no values (first at %s)", what, int(empty.sum()),
                    bars.index[empty][0])
        bars = bars.loc[~empty]
    if len(bars) == 0:
        raise BarsError(f"{what}: no bars")
    return bars


def validate_bars(bars: pd.DataFrame, what: str = "bars") -> None:
    """Raise `BarsError` naming the first bad row and column; return None for clean bars."""
    if len(bars) == 0:
        raise BarsError(f"{what}: no bars")
    index = bars.index
    step = np.diff(index.asi8)
    if (step <= 0).any():
        row = int(np.argmax(step <= 0)) + 1
        kind = "duplicate" if step[row - 1] == 0 else "out-of-order"
        raise BarsError(f"{what} row {row + 1}: {kind} timestamp {index[row]} after {index[row - 1]}")
    check_values({c: bars[c].to_numpy(dtype="float64") for c in COLUMNS}, what, bars.index)


def check_values(values: Mapping[str, np.ndarray], what: str = "bars", index: Sequence[Any] | None = None) -> None:
    """Raise `BarsError` for the first non-finite value, price <= 0, negative volume or broken envelope."""
    if _clean(values):
        return
    for col in COLUMNS:
        _fail_where(what, values, index, ~np.isfinite(values[col]), col, "expected a finite number")
    for col in ("open", "high", "low", "close"):
        _fail_where(what, values, index, values[col] <= 0, col, "expected a price > 0")
    _fail_where(what, values, index, values["volume"] < 0, "volume", "expected volume >= 0")
    top = np.maximum(values["open"], values["close"]) * (1 - _ENVELOPE_TOL)
    bottom = np.minimum(values["open"], values["close"]) * (1 + _ENVELOPE_TOL)
    _fail_where(what, values, index, values["high"] < top, "high", "expected high >= max(open, close)")
    _fail_where(what, values, index, values["low"] > bottom, "low", "expected low <= min(open, close)")


def bar_problem(open_: float, high: float, low: float, close: float, volume: float) -> str | None:
    """Why one bar fails `check_values` ("high 5, expected high >= max(open, close)"), or None: the same
    checks in the same order on plain floats, for live feeds that check one bar at a time (an array
    pass costs more than the bar's whole scoring)."""
    bar = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    for col in COLUMNS:
        if not math.isfinite(bar[col]):
            return f"{col} {bar[col]:g}, expected a finite number"
    for col in ("open", "high", "low", "close"):
        if bar[col] <= 0:
            return f"{col} {bar[col]:g}, expected a price > 0"
    if volume < 0:
        return f"volume {volume:g}, expected volume >= 0"
    if high < max(open_, close) * (1 - _ENVELOPE_TOL):
        return f"high {high:g}, expected high >= max(open, close)"
    if low > min(open_, close) * (1 + _ENVELOPE_TOL):
        return f"low {low:g}, expected low <= min(open, close)"
    return None


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


def _fail_where(what: str, values: Mapping[str, np.ndarray], index: Sequence[Any] | None, bad: np.ndarray,
                col: str, expected: str, *, quote: bool = False) -> None:
    """Raise for the first True in `bad`; rows are counted from 1, a CSV header not included."""
    if bad.any():
        row = int(np.argmax(bad))
        when = f" ({index[row]})" if index is not None else ""
        value = repr(values[col][row]) if quote else f"{values[col][row]:g}"
        raise BarsError(f"{what} row {row + 1}{when}: {col} {value}, {expected}")
