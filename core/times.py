"""Bar times across every boundary, in one convention: a bar time is a naive time in UTC.

A time enters as text (a CSV field, a feed's `start=`, a journal's ISO text: `parse_time`, `as_time`),
as a Backtrader date number (`bar_time`, `bar_times`) or as the unix seconds of `signalstack.v1`
messages (`as_time`, `unix_times`), and leaves as one of those (`isoformat()`, `date_number`,
`unix_seconds`, `unix_seconds_array`). Times with a UTC offset are converted to UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd

from .errors import InvalidInput

TimeLike = str | float | dt.date | np.datetime64
"""What `as_time` takes: text as `parse_time` reads it, unix seconds, a date, datetime or Timestamp."""

_EPOCH_DIGITS = re.compile(r"(\d{9,10}(?:\.\d*)?)|(\d{12,13})")
"""Unix seconds (9-10 digits: 1973-2286, perhaps with a fraction) or milliseconds (12-13 digits)."""
_UNIX_EPOCH = dt.datetime(1970, 1, 1)
_UNIX_DATE_NUMBER = 719163.0
"""Backtrader's date number of 1970-01-01 00:00 (days since 0001-01-01, counted from 1)."""
_UNIT = pd.DatetimeIndex(["1970-01-01"]).unit
"""pandas' default time resolution (us from pandas 3, ns before), so built indexes match parsed ones."""


def parse_time(text: str) -> dt.datetime | None:
    """The bar time a text names, or None: ISO 8601 (`2018-01-02`, `2018-01-02 09:30:00-05:00`,
    `20180102 093000`), unix seconds or milliseconds (`1514851200`), and what pandas reads besides
    (MetaTrader's `2018.01.02 09:30`, `01/02/2018`). Each text on its own, so a file and a feed that
    reads it row by row get the same times; a datetime, as a Timestamp costs ten times more to make."""
    epoch = _EPOCH_DIGITS.fullmatch(text)
    if epoch is not None:
        seconds, millis = epoch.groups()
        since = dt.timedelta(seconds=float(seconds)) if seconds else dt.timedelta(milliseconds=int(millis))
        return _UNIX_EPOCH + since
    try:
        when = dt.datetime.fromisoformat(text)  # the common case, far faster than pandas
    except ValueError:
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, OverflowError):
            return None
        if stamp is pd.NaT:
            return None
        when = stamp.to_pydatetime(warn=False)
    return when if when.tzinfo is None else when.astimezone(dt.UTC).replace(tzinfo=None)


def as_time(when: TimeLike) -> pd.Timestamp:
    """`when` as a bar time: text as `parse_time` reads it, numbers as unix seconds, dates, datetimes and
    numpy times converted. Raises ValueError quoting what names no time."""
    try:
        if isinstance(when, str):
            parsed = parse_time(when.strip())
            stamp = None if parsed is None else pd.Timestamp(parsed)
        elif isinstance(when, (int, float)) and not isinstance(when, bool):
            stamp = pd.Timestamp(when, unit="s")
        else:
            stamp = pd.Timestamp(when)
    except (TypeError, ValueError, OverflowError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise InvalidInput(
            f"time {when!r}: expected a date or time such as 2020-01-02, 2020-01-02 09:30:00 or unix seconds"
        )
    return stamp if stamp.tzinfo is None else stamp.tz_convert("UTC").tz_localize(None)


def date_number(when: TimeLike | None) -> float:
    """Backtrader's date number of a bar time, None being minus infinity (before every bar): the
    arithmetic of `backtrader.date2num`, here so that the core needs no Backtrader."""
    if when is None:
        return -math.inf
    stamp = when if isinstance(when, dt.datetime) and when.tzinfo is None else as_time(when)
    return math.fsum(
        (
            float(stamp.toordinal()),
            stamp.hour / 24.0,
            stamp.minute / 1440.0,
            stamp.second / 86400.0,
            stamp.microsecond / 86400e6,
        )
    )


def bar_times(numbers: np.ndarray | list[float]) -> pd.DatetimeIndex:
    """Bar times of Backtrader date numbers, NaN as NaT. A float64 date number resolves about 10
    microseconds, so times are rounded to the millisecond: bars come back exactly as they went in."""
    values = np.asarray(numbers, dtype=np.float64)
    known = np.isfinite(values)
    millis = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # int64 min is NaT
    millis[known] = np.rint((values[known] - _UNIX_DATE_NUMBER) * 86_400_000.0).astype(np.int64)
    return pd.DatetimeIndex(millis.view("datetime64[ms]").astype(f"datetime64[{_UNIT}]"), name="time")


def bar_time(number: float) -> pd.Timestamp:
    """One date number's `bar_times` entry, without an array: the live path converts one bar at a time."""
    return pd.Timestamp(round((number - _UNIX_DATE_NUMBER) * 86_400_000.0), unit="ms")


def unix_seconds(when: TimeLike, *, exact: bool = False) -> int:
    """A bar time as unix seconds, fractions of a second dropped (ValueError with `exact`)."""
    seconds, rest = divmod(as_time(when).value, 1_000_000_000)
    if exact and rest:
        raise InvalidInput(f"time {when!r}: has fractions of a second, expected whole seconds")
    return int(seconds)


def unix_seconds_array(times: pd.DatetimeIndex) -> np.ndarray:
    """`unix_seconds` of every time of an index."""
    return times.asi8 // (pd.Timedelta(seconds=1) // pd.Timedelta(1, times.unit))  # ticks per second


def unix_times(seconds: np.ndarray | list[int]) -> pd.DatetimeIndex:
    """The bar times of unix seconds."""
    return pd.to_datetime(np.asarray(seconds, dtype=np.int64), unit="s")
