"""Bar times across the boundaries: text, Backtrader's date numbers, unix seconds; one convention, naive UTC."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.core.times import (
    as_time,
    bar_time,
    bar_times,
    date_number,
    parse_time,
    unix_seconds,
    unix_seconds_array,
    unix_times,
)


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2018-01-02", "2018-01-02"),
        ("2018-01-02 09:30:00", "2018-01-02 09:30"),
        ("20180102 093000", "2018-01-02 09:30"),
        ("2018.01.02 00:15", "2018-01-02 00:15"),
        ("2018-03-09 09:30:00-05:00", "2018-03-09 14:30"),
        ("2018-01-02T09:30:00Z", "2018-01-02 09:30"),
        ("1514851200", "2018-01-02"),
        ("1514851260000", "2018-01-02 00:01"),
        ("1514851200.5", "2018-01-02 00:00:00.5"),
        ("01/02/2018", "2018-01-02"),
        ("2018-01-02 9:30", "2018-01-02 09:30"),
    ],
)
def test_text_names_a_naive_utc_time(text: str, when: str) -> None:
    parsed = parse_time(text)
    assert isinstance(parsed, dt.datetime) and parsed.tzinfo is None and parsed == pd.Timestamp(when)


@pytest.mark.parametrize("text", ["", "not-a-date", "2018-13-45", "2018-01-02 25:61", "NaT", "15148512000"])
def test_text_that_names_no_time_is_none(text: str) -> None:
    assert parse_time(text) is None


def test_anything_a_time_is_given_as_reads_as_the_same_bar_time() -> None:
    expected = pd.Timestamp("2020-01-02 14:30")
    for given in (
        "2020-01-02 14:30",
        " 2020-01-02T09:30-05:00 ",
        dt.datetime(2020, 1, 2, 14, 30),
        expected,
        expected.tz_localize("UTC").tz_convert("Asia/Tokyo"),
        np.datetime64("2020-01-02T14:30"),
        unix_seconds(expected),
    ):
        assert as_time(given) == expected and as_time(given).tzinfo is None, given
    assert as_time(dt.date(2020, 1, 2)) == pd.Timestamp("2020-01-02")
    for bad in ("soon", None, float("nan")):
        with pytest.raises(ValueError, match="expected a date or time"):
            as_time(bad)


def test_date_numbers_are_backtraders_and_come_back_to_the_millisecond() -> None:
    rng = np.random.default_rng(7)
    times = pd.to_datetime(rng.integers(-2_000_000_000, 4_000_000_000, 2000), unit="s") + pd.to_timedelta(
        rng.integers(0, 1000, 2000), unit="ms"
    )
    numbers = [date_number(t) for t in times]
    assert numbers == [bt.date2num(t.to_pydatetime()) for t in times]
    assert bar_times(numbers).equals(pd.DatetimeIndex(times, name="time"))
    assert [bar_time(n) for n in numbers] == list(times)
    assert date_number("2020-01-02") == bt.date2num(dt.datetime(2020, 1, 2)) and date_number(None) == -np.inf
    assert bar_times([np.nan]).isna().all()


def test_unix_seconds_go_and_come_back() -> None:
    times = pd.DatetimeIndex(["2018-01-02", "2018-01-02 09:30:01.75"])
    assert unix_seconds_array(times).tolist() == [unix_seconds(t) for t in times] == [1514851200, 1514885401]
    assert unix_times([1514851200, 1514885401]).equals(times.floor("s"))
    assert as_time(1514851200) == times[0] and unix_seconds(1514851200) == 1514851200
    with pytest.raises(ValueError, match="has fractions of a second"):
        unix_seconds(times[1], exact=True)
    with pytest.raises(ValueError, match="time 1000000000000000: expected a date or time"):
        as_time(10**15)
