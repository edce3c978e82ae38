"""OHLCV bars: the one reader of CSV rows, loading from CSV, Parquet, the bundled samples or a DataFrame,
and the checks of a bar.

Every other module works on the frame `load_bars` returns: a tz-naive, strictly increasing
DatetimeIndex named ``time`` and float columns ``open, high, low, close, volume``. A CSV file is
read row by row by the `BarLayout` its header names, the same parser every paper feed reads its
rows with (`read_rows` for a replay, `BarLayout.parse_line` for a file being appended to), so a
file loads and replays the same bars. Times are read by `core.times`.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import InvalidInput
from .times import parse_time

log = logging.getLogger(__name__)

COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLES = ("sp500", "nasdaq")
"""Daily bars shipped by the `arch` package (1999-2018, NCSA licence), reachable as ``sample:NAME``."""

# Tolerance for the high/low envelope check: published bars are rounded to a few decimals.
_BELOW_HIGH = 1 - 1e-6
_ABOVE_LOW = 1 + 1e-6


class BarsError(InvalidInput):
    """Bars that cannot be used; the message names where they came from, the row and the column."""


def load_bars(data: str | Path | pd.DataFrame, *, adjust: bool = True) -> pd.DataFrame:
    """Bars from a CSV or Parquet path, ``sample:sp500`` / ``sample:nasdaq``, or a DataFrame, validated.

    Column names are read in any letter case (and without MetaTrader's angle brackets); the time
    comes from one Date, Datetime, Timestamp or Time column, or from Date and Time side by side
    (see `BarLayout` for the vendor layouts), or from a frame's DatetimeIndex. Volume is
    Volume/Vol, or tick volume where that is missing or 0 (MetaTrader's <TICKVOL> next to <VOL>).
    A Parquet file (``.parquet``/``.pq``) is read as the frame it holds, with the same columns and checks.

    ``adjust`` rescales open/high/low/close by ``Adj Close / Close`` when the bars have an
    adjusted close, so splits and dividends do not show up as returns.
    """
    if isinstance(data, pd.DataFrame):
        return _frame_bars(data.copy(), "DataFrame", adjust)
    text = str(data)
    if text.startswith("sample:"):
        return _frame_bars(_sample_frame(text.removeprefix("sample:")), text, adjust)
    path = Path(text)
    if not path.is_file():
        raise BarsError(
            f"{path}: no such file (expected a CSV or Parquet file of OHLCV bars or sample:{'|'.join(SAMPLES)})"
        )
    if path.suffix.lower() in _PARQUET:
        return _frame_bars(_read_parquet(path), str(path), adjust)
    rows = read_rows(path, adjust=adjust)
    bad = next((raw for raw in rows if raw.problem is not None), None)
    if bad is not None:
        when = "" if bad.time is None else f" ({bad.time})"
        raise BarsError(f"{path} row {bad.row - 1}{when}: {bad.problem}")
    bars = pd.DataFrame(
        [raw.values for raw in rows],
        columns=list(COLUMNS),
        index=pd.DatetimeIndex([raw.time for raw in rows], name="time"),
    )
    validate_bars(bars, str(path), rows=[raw.row - 1 for raw in rows])  # counted without the header, as ever
    return bars


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


_PARQUET = (".parquet", ".pq")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise BarsError(f"{path}: not readable as Parquet ({' '.join(str(exc).split())})") from None


def _sample_frame(name: str) -> pd.DataFrame:
    if name not in SAMPLES:
        raise BarsError(f"sample:{name}: unknown sample (expected one of {', '.join(SAMPLES)})")
    from arch.data import nasdaq, sp500

    return (sp500 if name == "sp500" else nasdaq).load()


_HEADER_EXAMPLE = "Date,Open,High,Low,Close,Volume"
_TIME_EXPECTED = "one of Date, Datetime, Timestamp, Time, or Date and Time side by side"
_TIME_EXAMPLES = "a date or time such as 2020-01-02, 2020-01-02 09:30:00 or 2020.01.02"
_MISSING = frozenset({"", "null", "NULL", "NaN", "nan", "NA", "N/A", "n/a", "#N/A", "None"})
"""Fields that hold no value (Yahoo writes null on holidays)."""

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
_VALUES = ("open", "high", "low", "close", "volume", "tick_volume", "adj_close")
"""The roles a row's numbers are read for, in `BarLayout.fields` order."""


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.strip().strip("<>").lower())


def _roles(names: Sequence[str], what: str, *, time: bool) -> dict[str, str]:
    """{role: column name} of a header or a frame's columns (`_ROLES`); a role two columns claim, no time
    column (when `time`) or a missing value column is an error naming the header."""
    claimed: dict[str, list[str]] = {}
    for name in names:
        role = _ROLE_OF.get(_key(name))
        if role is not None:
            claimed.setdefault(role, []).append(name)
    header = ", ".join(names)
    for role, columns in claimed.items():
        if len(columns) > 1:
            raise BarsError(
                f"{what}: ambiguous header: {' and '.join(columns)} both read as {role} "
                f"(expected one {role} column; header: {header})"
            )
    stamps = [claimed[r][0] for r in ("date", "time", "datetime") if r in claimed]
    if "datetime" in claimed and len(stamps) > 1:
        raise BarsError(
            f"{what}: ambiguous header: time columns {', '.join(stamps)} (expected {_TIME_EXPECTED}; header: {header})"
        )
    if time and not stamps:
        raise BarsError(f"{what}: no time column (expected {_TIME_EXPECTED}, in any letter case; header: {header})")
    roles = {role: columns[0] for role, columns in claimed.items()}
    missing = [c for c in COLUMNS if c not in roles and not (c == "volume" and "tick_volume" in roles)]
    if missing:
        raise BarsError(
            f"{what}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)} in any "
            f"letter case; have {header})"
        )
    return roles


def _time_columns(roles: Mapping[str, str]) -> list[str]:
    """The column(s) a bar's time is read from: Datetime/Timestamp, or Date and/or Time."""
    return [roles["datetime"]] if "datetime" in roles else [roles[r] for r in ("date", "time") if r in roles]


def _time_problem(columns: Sequence[str], text: str) -> str:
    return f"{'/'.join(columns)} {text!r}, expected {_TIME_EXAMPLES}"


class RawBar(NamedTuple):
    """One arrival of a feed (a data row of a file, a pushed bar): its row number, time (naive UTC) and
    values (open, high, low, close, volume; NaN where missing), or the problem found reading it."""

    row: int
    """A file's line number (the header is line 1); a pushed bar's number among its symbol's arrivals."""
    time: dt.datetime | None
    values: tuple[float, float, float, float, float]
    problem: str | None = None

    @property
    def empty(self) -> bool:
        """Whether the row holds no value at all (Yahoo's holidays): no bar, and nothing wrong."""
        return self.problem is None and all(v != v for v in self.values)


_NO_VALUES = (math.nan, math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class BarLayout:
    """Where a CSV of bars keeps its values, read from its header (comma, tab or semicolon separated, names
    in any case): Yahoo's, Stooq's, Backtrader's, MetaTrader's layouts (docs/how-to/own-bars.md) and more.
    Backtrader's minute files carry date and time as two fields under a header that names only `Date`:
    such a row has one field more than the header and a time-like field right after the date, and is
    read by `split`. Any other row with more fields than the header is refused.
    """

    sep: str
    width: int
    when: tuple[int, ...]
    """The field(s) of the time, joined by a space."""
    when_names: tuple[str, ...]
    fields: tuple[tuple[int, int], ...]
    """(slot in `_VALUES`, field) of each value the file holds (adj_close only when it `adjusts` prices)."""
    adjusts: bool
    split: BarLayout | None = None
    """The layout of a row that carries a time its header does not name, when the header names only a date."""

    @classmethod
    def from_header(cls, line: str, what: str, *, adjust: bool = True) -> BarLayout:
        """The layout of the file `what` whose first line is `line`; BarsError for a line that names no bars.
        `adjust`: rescale prices by the adjusted close where the file has one (as `load_bars`)."""
        if not line.strip():
            raise BarsError(
                f"{what}: {'empty file' if not line else 'empty first line'} (expected a header such "
                f"as {_HEADER_EXAMPLE}, then one bar per line)"
            )
        sep = "\t" if "\t" in line else ";" if line.count(";") > line.count(",") else ","
        header = [name.strip() for name in next(csv.reader([line.rstrip("\r\n")], delimiter=sep), [])]
        if not any(_key(h) in _ROLE_OF for h in header) and any(re.fullmatch(r"[-+]?\d[\d.:/ -]*", h) for h in header):
            raise BarsError(
                f"{what}: no header line (first line {line.strip()!r} looks like a bar; expected column "
                "names first, such as Date,Time,Open,High,Low,Close,Volume)"
            )
        roles = _roles(header, what, time=True)
        split = None
        if "date" in roles and not {"time", "datetime"} & roles.keys():
            names = [*header]
            names.insert(header.index(roles["date"]) + 1, "Time")
            split = cls._of(sep, names, {**roles, "time": "Time"}, adjust)
        return cls._of(sep, header, roles, adjust, split)

    @classmethod
    def _of(
        cls, sep: str, header: list[str], roles: dict[str, str], adjust: bool, split: BarLayout | None = None
    ) -> BarLayout:
        columns = _time_columns(roles)
        adjusts = adjust and "adj_close" in roles
        return cls(
            sep=sep,
            width=len(header),
            when=tuple(header.index(c) for c in columns),
            when_names=tuple(columns),
            fields=tuple(
                (slot, header.index(roles[role]))
                for slot, role in enumerate(_VALUES)
                if role in roles and (adjusts or role != "adj_close")
            ),
            adjusts=adjusts,
            split=split,
        )

    def parse_line(self, line: str, row: int) -> RawBar | None:
        """The bar of one line of the file (its number `row`), None for a blank line."""
        if '"' in line:
            try:
                fields = next(csv.reader([line], delimiter=self.sep, strict=True), [])
            except csv.Error as exc:
                return RawBar(row=row, time=None, values=_NO_VALUES, problem=f"not readable as CSV ({exc})")
        else:  # what csv.reader makes of a line without quotes, at a fraction of its cost
            fields = line.rstrip("\r\n").split(self.sep)
        return self.parse(fields, row) if any(f.strip() for f in fields) else None

    def parse(self, fields: list[str], row: int) -> RawBar:
        """The bar of one data row's `fields` (a csv.reader row, numbered `row`), or why it is none: too many
        fields, a time or number that cannot be read, or values `bar_problem` refuses (as the file gives
        them, before the adjusted close rescales them)."""
        if len(fields) > self.width:
            split = self.split
            if split is not None and len(fields) == split.width and _TIME_LIKE.fullmatch(fields[split.when[1]]):
                return split.parse(fields, row)
            besides = "" if split is None else f" (or {split.width}, a time after the date)"
            return RawBar(
                row=row,
                time=None,
                values=_NO_VALUES,
                problem=f"{len(fields)} fields, expected {self.width} like the header{besides}",
            )
        if len(fields) < self.width:
            fields = [*fields, *[""] * (self.width - len(fields))]  # trailing fields left out hold no value
        problems = []
        when = self.when
        text = fields[when[0]].strip() if len(when) == 1 else " ".join([fields[i].strip() for i in when])
        time = parse_time(text)
        if time is None:
            problems.append(_time_problem(self.when_names, text))
        numbers = [math.nan] * len(_VALUES)
        for slot, at in self.fields:
            try:
                numbers[slot] = float(fields[at])  # blanks around the number are allowed
            except ValueError:
                field = fields[at].strip()
                if field not in _MISSING:
                    problems.append(f"{_VALUES[slot]} {field!r}, expected a number")
        open_, high, low, close, volume, ticks, adj_close = numbers
        if (volume != volume or volume == 0) and ticks == ticks:  # MetaTrader's tick volume stands in
            volume = ticks
        values = (open_, high, low, close, volume)
        if problems or (open_ != open_ and high != high and low != low and close != close and volume != volume):
            # unreadable, or no values at all (`RawBar.empty`): nothing to check
            return RawBar(row=row, time=time, values=values, problem="; ".join(problems) or None)
        problem = bar_problem(*values)
        if problem is None and self.adjusts:
            if not adj_close > 0:
                problem = f"adj_close {adj_close:g}, expected a price > 0"
            else:
                ratio = adj_close / close
                values = (open_ * ratio, high * ratio, low * ratio, close * ratio, volume)
        return RawBar(row=row, time=time, values=values, problem=problem)


def read_rows(path: Path, *, adjust: bool = True) -> list[RawBar]:
    """The bars of the data rows of a CSV file of bars, by the `BarLayout` its header names, each row read
    on its own so that one bad row spoils only itself; rows with no values are dropped with a warning
    counting them. A Parquet file's bars are `load_bars`' (refused whole for a bad row), numbered from 1."""
    if path.suffix.lower() in _PARQUET:
        return [
            RawBar(row, time, tuple(values))
            for row, (time, *values) in enumerate(load_bars(path, adjust=adjust).itertuples(), start=1)
        ]
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            layout = BarLayout.from_header(fh.readline(), str(path), adjust=adjust)
            rows = [raw for row, line in enumerate(fh, start=2) if (raw := layout.parse_line(line, row)) is not None]
    except UnicodeDecodeError as exc:
        raise BarsError(f"{path}: not a text file ({exc.reason}; expected a UTF-8 CSV of OHLCV bars)") from None
    empty = [raw for raw in rows if raw.empty]
    if empty:
        log.warning("%s: dropped %d row(s) with no values (first at %s)", path, len(empty), empty[0].time)
        rows = [raw for raw in rows if not raw.empty]
    return rows


_TIME_LIKE = re.compile(r"\s*(\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?|\d{4}|\d{6})\s*")


def _frame_bars(frame: pd.DataFrame, what: str, adjust: bool) -> pd.DataFrame:
    """Bars from a frame's columns (named as a CSV header would be) and its times: a DatetimeIndex or the
    time column(s), read as `BarLayout` reads a row."""
    if isinstance(frame.columns, pd.MultiIndex) and all(
        frame.columns.get_level_values(i).nunique() == 1 for i in range(1, frame.columns.nlevels)
    ):
        frame.columns = frame.columns.get_level_values(0)  # yfinance's (Price, Ticker) columns for one ticker
    names = [str(c).strip() for c in frame.columns]
    frame.columns = names
    indexed = isinstance(frame.index, pd.DatetimeIndex)
    roles = _roles(names, what, time=not indexed)
    index = pd.DatetimeIndex(frame.index) if indexed else _frame_times(frame, _time_columns(roles), what)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    # Text that is no number is NaN, refused as such by the checks (a CSV's rows name the text they hold).
    numbers = {
        role: pd.to_numeric(frame[roles[role]], errors="coerce").to_numpy(dtype="float64")
        for role in _VALUES
        if role in roles
    }
    volume = numbers.get("volume")
    if "tick_volume" in numbers:  # where volume is missing or 0, as `BarLayout.parse` reads a row
        ticks = numbers["tick_volume"]
        volume = (
            ticks if volume is None else np.where(((volume == 0) | np.isnan(volume)) & ~np.isnan(ticks), ticks, volume)
        )
    bars = pd.DataFrame({**{c: numbers[c] for c in COLUMNS[:4]}, "volume": volume}, index=pd.DatetimeIndex(index))
    empty = bars.isna().all(axis=1).to_numpy()
    if empty.any():
        log.warning("%s: dropped %d row(s) with no values (first at %s)", what, int(empty.sum()), bars.index[empty][0])
        bars = bars.loc[~empty]
    rows = np.flatnonzero(~empty) + 1  # numbered as the frame's rows, from 1
    bars.index.name = "time"
    validate_bars(bars, what, rows=rows)
    if adjust and "adj_close" in numbers:
        adj = numbers["adj_close"][~empty]
        bad = ~(adj > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise BarsError(f"{what} row {rows[i]} ({bars.index[i]}): adj_close {adj[i]:g}, expected a price > 0")
        ratio = adj / bars["close"].to_numpy()
        for col in ("open", "high", "low", "close"):
            bars[col] = bars[col].to_numpy() * ratio
    return bars


def _frame_times(frame: pd.DataFrame, columns: Sequence[str], what: str) -> pd.DatetimeIndex:
    """Bar times from a frame's time column(s): datetimes as they are, anything else read as `parse_time`
    reads a CSV field (numbers as their digits: 20180102, epoch seconds)."""
    parts = [frame[c] for c in columns]
    if len(parts) == 1 and pd.api.types.is_datetime64_any_dtype(parts[0].dtype):
        return pd.DatetimeIndex(parts[0])
    texts = [" ".join(_text(value) for value in row) for row in zip(*parts)]
    times = [parse_time(text) for text in texts]
    bad = next((i for i, when in enumerate(times) if when is None), None)
    if bad is not None:
        raise BarsError(f"{what} row {bad + 1}: {_time_problem(columns, texts[bad])}")
    return pd.DatetimeIndex(times)


def _text(value: Any) -> str:
    """A frame's time value as the text of a CSV field: whole numbers without a decimal point."""
    whole = isinstance(value, float) and value.is_integer()
    return str(int(value)) if whole else "" if pd.isna(value) else str(value).strip()


def validate_bars(bars: pd.DataFrame, what: str = "bars", rows: Sequence[int] | np.ndarray | None = None) -> None:
    """Raise `BarsError` naming the first bad row and column; return None for clean bars. `rows`: each
    bar's number in errors (default: counted from 1)."""
    if len(bars) == 0:
        raise BarsError(f"{what}: no bars")
    index = bars.index
    if not isinstance(index, pd.DatetimeIndex):
        raise BarsError(f"{what}: a {type(index).__name__} of row labels, expected a DatetimeIndex of bar times")
    step = np.diff(index.asi8)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        kind = "duplicate" if step[i - 1] == 0 else "out-of-order"
        raise BarsError(
            f"{what} row {i + 1 if rows is None else rows[i]}: {kind} timestamp {index[i]} after {index[i - 1]}"
        )
    check_values({c: bars[c].to_numpy(dtype="float64") for c in COLUMNS}, what, index, rows)


_FLOATS = SimpleNamespace(isfinite=math.isfinite, maximum=max, minimum=min)
"""What `_checks` needs of numpy, for one bar of floats."""


def _checks(open_: Any, high: Any, low: Any, close: Any, volume: Any, ops: Any) -> Iterator[tuple[str, Any, Any, str]]:
    """The checks of a bar in the order they are reported: (column, its value, passed, what was expected),
    for one bar (floats, `ops` `_FLOATS`) or many (arrays, `ops` numpy) alike."""
    prices = (("open", open_), ("high", high), ("low", low), ("close", close))
    for column, value in (*prices, ("volume", volume)):
        yield column, value, ops.isfinite(value), "expected a finite number"
    for column, value in prices:
        yield column, value, value > 0, "expected a price > 0"
    yield "volume", volume, volume >= 0, "expected volume >= 0"
    yield "high", high, high >= ops.maximum(open_, close) * _BELOW_HIGH, "expected high >= max(open, close)"
    yield "low", low, low <= ops.minimum(open_, close) * _ABOVE_LOW, "expected low <= min(open, close)"


def check_values(
    values: Mapping[str, np.ndarray],
    what: str = "bars",
    index: pd.Index | Sequence[Any] | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> None:
    """Raise `BarsError` for the first bar `_checks` refuse (non-finite value, price <= 0, negative volume,
    broken envelope), naming its row (`rows`, default counted from 1) and its time when `index` is given."""
    with np.errstate(invalid="ignore", over="ignore"):
        checks = list(_checks(values["open"], values["high"], values["low"], values["close"], values["volume"], np))
    if np.vstack([passed for _, _, passed, _ in checks]).all():  # clean bars, the usual case: one reduction
        return
    column, value, passed, expected = next(check for check in checks if not check[2].all())
    i = int(np.argmin(passed))
    when = f" ({index[i]})" if index is not None else ""
    raise BarsError(f"{what} row {i + 1 if rows is None else rows[i]}{when}: {column} {value[i]:g}, {expected}")


def bar_problem(open_: float, high: float, low: float, close: float, volume: float) -> str | None:
    """Why one bar fails `check_values` ("high 5, expected high >= max(open, close)"), or None: the same
    `_checks` on plain floats, for live feeds that check one bar at a time (an array pass costs more
    than the bar's whole scoring)."""
    for column, value, passed, expected in _checks(open_, high, low, close, volume, _FLOATS):
        if not passed:
            return f"{column} {value:g}, {expected}"
    return None
