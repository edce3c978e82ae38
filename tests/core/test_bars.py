import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalstack.core.bars import COLUMNS, BarsError, bar_problem, check_values, load_bars, load_symbols

from ..layouts import LAYOUTS, layout_file
from ..support import shared_csv

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
ROWS = [
    "2020-01-02,10.0,10.5,9.8,10.2,10.2,1000",
    "2020-01-03,10.2,10.6,10.1,10.4,10.4,1100",
    "2020-01-06,10.4,10.9,10.3,10.8,10.8,900",
]


def write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_yahoo_csv_loads_with_normalised_columns(tmp_path):
    bars = load_bars(write(tmp_path, ROWS))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "time" and bars.index.is_monotonic_increasing
    assert bars["close"].tolist() == [10.2, 10.4, 10.8]


def test_adjusted_close_rescales_prices(tmp_path):
    rows = [r.replace(",10.2,10.2,", ",10.2,5.1,") for r in ROWS]
    bars = load_bars(write(tmp_path, rows))
    assert bars["close"].iloc[0] == pytest.approx(5.1)
    assert bars["open"].iloc[0] == pytest.approx(5.0)
    raw = load_bars(write(tmp_path, rows), adjust=False)
    assert raw["close"].iloc[0] == 10.2


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2020-01-03,10.2,10.6,10.1,nan,10.4,1100", "row 2 (2020-01-03 00:00:00): close nan, expected a finite number"),
        ("2020-01-03,-10.2,10.6,10.1,10.4,10.4,1100", "row 2 (2020-01-03 00:00:00): open -10.2, expected a price > 0"),
        (
            "2020-01-03,10.2,10.3,10.1,10.4,10.4,1100",
            "row 2 (2020-01-03 00:00:00): high 10.3, expected high >= max(open, close)",
        ),
        (
            "2020-01-03,10.2,10.6,10.3,10.4,10.4,1100",
            "row 2 (2020-01-03 00:00:00): low 10.3, expected low <= min(open, close)",
        ),
        ("2020-01-03,10.2,10.6,10.1,10.4,10.4,-5", "row 2 (2020-01-03 00:00:00): volume -5, expected volume >= 0"),
    ],
)
def test_bad_values_name_file_row_and_column(tmp_path, row, message):
    path = write(tmp_path, [ROWS[0], row, ROWS[2]])
    with pytest.raises(BarsError) as err:
        load_bars(path)
    assert str(err.value) == f"{path} {message}"


def test_unsorted_and_duplicate_timestamps_are_refused(tmp_path):
    with pytest.raises(BarsError, match=r"row 3: out-of-order timestamp"):
        load_bars(write(tmp_path, [ROWS[1], ROWS[2], ROWS[0]]))
    with pytest.raises(BarsError, match=r"row 2: duplicate timestamp 2020-01-02"):
        load_bars(write(tmp_path, [ROWS[0], ROWS[0]]))


def test_empty_rows_are_dropped_with_a_counted_warning(tmp_path, caplog):
    bars = load_bars(write(tmp_path, [ROWS[0], "2020-01-03,null,null,null,null,null,null", ROWS[2]]))
    assert len(bars) == 2
    assert "dropped 1 row(s) with no values" in caplog.text


def test_missing_column_and_unknown_sample_are_named(tmp_path):
    with pytest.raises(BarsError, match="missing column\\(s\\) volume"):
        load_bars(write(tmp_path, [r.rsplit(",", 1)[0] for r in ROWS], header="Date,Open,High,Low,Close,Adj Close\n"))
    with pytest.raises(BarsError, match="sample:spx: unknown sample \\(expected one of sp500, nasdaq\\)"):
        load_bars("sample:spx")
    with pytest.raises(BarsError, match="no such file"):
        load_bars(tmp_path / "absent.csv")


def test_dataframe_source_with_date_column():
    frame = pd.DataFrame(
        {
            "Date": ["2020-01-02", "2020-01-03"],
            "Open": [1.0, 1.1],
            "High": [1.2, 1.2],
            "Low": [0.9, 1.0],
            "Close": [1.1, 1.15],
            "Volume": [5, 6],
        }
    )
    bars = load_bars(frame)
    assert bars.index[1] == pd.Timestamp("2020-01-03")
    assert bars.dtypes.unique().tolist() == [np.dtype("float64")]


def test_embedded_samples_are_real_daily_bars():
    for name in ("sp500", "nasdaq"):
        bars = load_bars(f"sample:{name}")
        assert len(bars) > 5000
        assert bars.index[0].year == 1999 and bars.index[-1].year == 2018


@pytest.mark.parametrize(
    ("name", "rows", "first"),
    [
        ("orcl-1995-2014.csv", 5036, "1995-01-03"),
        ("2005-2006-day-001.csv", 512, "2005-01-03"),
        ("2006-min-005.csv", 2142, "2006-01-02 09:05:00"),
        ("2006-01-02-volume-min-001.csv", 30889, "2006-01-02 09:01:00"),
    ],
)
def test_shared_files_in_every_layout_load(name, rows, first):
    bars = load_bars(shared_csv(name))
    assert len(bars) == rows
    assert bars.index[0] == pd.Timestamp(first)


_ODD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 0.5, 1.0, 3.0, 1e308])


@st.composite
def _row(draw: st.DrawFn) -> tuple[float, ...]:
    """A clean bar, or one with a field swapped for an odd value (bad, or good only by chance)."""
    o, c = draw(st.floats(1.0, 2.0)), draw(st.floats(1.0, 2.0))
    row = [
        o,
        max(o, c) * draw(st.floats(1.0, 1.01)),
        min(o, c) * draw(st.floats(0.99, 1.0)),
        c,
        draw(st.floats(0.0, 1e6)),
    ]
    if draw(st.booleans()):
        row[draw(st.integers(0, 4))] = draw(_ODD)
    return tuple(row)


def _bad_rows(rows: list[tuple[float, ...]]) -> set[int]:
    """The rows check_values must refuse (counted from 1), by its rule written bar by bar in plain Python."""
    tol, bad = 1e-6, set()
    for i, (o, h, low, c, v) in enumerate(rows, start=1):
        if not all(math.isfinite(x) for x in (o, h, low, c, v)) or min(o, h, low, c) <= 0 or v < 0:
            bad.add(i)
        elif h < max(o, c) * (1 - tol) or low > min(o, c) * (1 + tol):
            bad.add(i)
    return bad


@settings(max_examples=300, deadline=None)
@given(st.lists(_row(), min_size=1, max_size=6))
def test_check_values_refuses_bars_with_a_bad_row_and_names_one(rows):
    values = {c: np.array([r[k] for r in rows]) for k, c in enumerate(COLUMNS)}
    bad = _bad_rows(rows)
    if not bad:
        check_values(values)
        return
    with pytest.raises(BarsError, match=r"bars row (\d+): ") as err:
        check_values(values)
    assert int(err.value.args[0].split()[2].rstrip(":")) in bad


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_vendor_layout_loads_the_same_bars(tmp_path, layout):
    bars = load_bars(layout_file(tmp_path, layout))
    second = LAYOUTS[layout][1]
    assert list(bars.columns) == list(COLUMNS) and bars.index.name == "time" and bars.index.tz is None
    assert bars.index[1] == pd.Timestamp(second)
    assert bars.iloc[0].tolist() == [1.2, 1.3, 1.1, 1.25, 100.0]


def test_metatrader_tick_volume_stands_in_for_a_volume_of_zeros(tmp_path):
    header = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
    rows = [
        "2018.01.02\t00:00:00\t1.2\t1.3\t1.1\t1.25\t842\t{vol}\t12",
        "2018.01.02\t00:15:00\t1.2\t1.3\t1.1\t1.25\t800\t{vol}\t12",
    ]
    assert load_bars(write(tmp_path, [r.format(vol=0) for r in rows], header))["volume"].tolist() == [842, 800]
    assert load_bars(write(tmp_path, [r.format(vol=5) for r in rows], header))["volume"].tolist() == [5, 5]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "Date,Timestamp,Open,High,Low,Close,Volume",
            "ambiguous header: time columns Date, Timestamp (expected one of Date, Datetime, Timestamp, Time, or Date "
            "and Time side by side; header: Date, Timestamp, Open, High, Low, Close, Volume)",
        ),
        ("Datetime,Time,Open,High,Low,Close,Volume", "ambiguous header: time columns Time, Datetime (expected one of"),
        (
            "Date,Open,High,Low,Close,close,Volume",
            "ambiguous header: Close and close both read as close (expected one close column; header: Date, Open, "
            "High, Low, Close, close, Volume)",
        ),
        ("Date,Open,High,Low,Close,Vol,Volume", "ambiguous header: Vol and Volume both read as volume"),
        (
            "Day,Open,High,Low,Close,Volume",
            "no time column (expected one of Date, Datetime, Timestamp, Time, or Date and Time side by side, in any "
            "letter case; header: Day, Open, High, Low, Close, Volume)",
        ),
        (
            "date,open,high,low,close",
            "missing column(s) volume (expected open, high, low, close, volume in any letter "
            "case; have date, open, high, low, close)",
        ),
    ],
)
def test_a_header_the_loader_cannot_read_one_way_is_named(tmp_path, header, message):
    fields = header.count(",") + 1
    path = write(
        tmp_path, [",".join(["2018-01-02", "1.2", "1.3", "1.1", "1.25", "1.25", "100"][:fields])], header + "\n"
    )
    with pytest.raises(BarsError) as err:
        load_bars(path)
    assert str(err.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ": empty file (expected a header such as Date,Open,High,Low,Close,Volume, then one bar per line)"),
        (
            b"2018.01.02,00:00,1.2,1.3,1.1,1.25,100\n",
            ": no header line (first line '2018.01.02,00:00,1.2,1.3,1.1,1.25,100' looks like a bar; expected column "
            "names first, such as Date,Time,Open,High,Low,Close,Volume)",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n\x89PNG\xff\x00\n",
            ": not a text file (invalid start byte; expected a UTF-8 CSV of OHLCV bars)",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-03,1.2,1.3,1.1,1,25,100\n",
            " row 2: 7 fields, expected 6 like the header",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-13-45,1.2,1.3,1.1,1.25,100\n",
            " row 2: Date '2018-13-45', expected a date or time such as 2020-01-02, 2020-01-02 09:30:00 or 2020.01.02",
        ),
        (
            b"Date,Time,Open,High,Low,Close,Volume\n2018.01.02,00:00,1.2,1.3,1.1,1.25,100\n2018.01.02,25:61,1.2,1.3,1.1,"
            b"1.25,100\n",
            " row 2: Date/Time '2018.01.02 25:61', expected a date or time such as",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-03,1.2,1.3,1.1,n/a1,100\n",
            " row 2 (2018-01-03 00:00:00): close 'n/a1', expected a number",
        ),
        (b'Date,Open,High,Low,Close,Volume\n"2018-01-02,1.2\n', " row 1: not readable as CSV (unexpected end of data)"),
    ],
)
def test_a_file_that_is_not_a_csv_of_bars_is_named_with_its_row(tmp_path, content, message):
    path = tmp_path / "bars.csv"
    path.write_bytes(content)
    with pytest.raises(BarsError) as err:
        load_bars(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}{message}")


def test_rows_keep_their_numbers_after_an_empty_row_is_dropped(tmp_path):
    path = write(
        tmp_path, [ROWS[0], "2020-01-03,null,null,null,null,null,null", "2020-01-06,10.4,10.9,10.3,-10.8,10.8,900"]
    )
    with pytest.raises(BarsError, match=r"bars.csv row 3 \(2020-01-06 00:00:00\): close -10.8, expected a price > 0"):
        load_bars(path)


def test_dataframe_columns_are_read_like_a_header():
    frame = pd.DataFrame(
        {
            "TIMESTAMP": ["2020-01-02 09:30", "2020-01-02 09:31"],
            "open": [1.0, 1.1],
            "HIGH": [1.2, 1.2],
            "<LOW>": [0.9, 1.0],
            "Close": [1.1, 1.15],
            "vol": [5, 6],
        }
    )
    bars = load_bars(frame)
    assert bars.index[1] == pd.Timestamp("2020-01-02 09:31") and bars["volume"].tolist() == [5.0, 6.0]
    aware = frame.drop(columns="TIMESTAMP").set_index(pd.DatetimeIndex(frame["TIMESTAMP"]).tz_localize("US/Eastern"))
    assert load_bars(aware).index[0] == pd.Timestamp("2020-01-02 14:30")
    one_ticker = aware.set_axis(pd.MultiIndex.from_product([aware.columns, ["AAPL"]]), axis=1)  # as yfinance gives
    assert load_bars(one_ticker).equals(load_bars(aware))


@pytest.mark.parametrize(
    ("name", "rows"), [("orcl-1995-2014.csv", 5036), ("yhoo-1996-2014.csv", 4713), ("nvda-1999-2014.csv", 4012)]
)
def test_shared_yahoo_files_load_adjusted(name, rows):
    path = shared_csv(name)
    bars, raw = load_bars(path), load_bars(path, adjust=False)
    assert len(bars) == len(raw) == rows and bars.index[-1] == pd.Timestamp("2014-12-31")
    file = pd.read_csv(path)
    np.testing.assert_allclose(raw["close"], file["Close"])
    np.testing.assert_allclose(bars["close"], file["Adj Close"])


@pytest.mark.parametrize(
    "bar",
    [
        (1.0, 2.0, 0.5, 1.5, 10.0),
        (1.0, float("nan"), 0.5, 1.5, 10.0),
        (1.0, 2.0, 0.5, 1.5, float("inf")),
        (0.0, 2.0, 0.5, 1.5, 10.0),
        (1.0, 2.0, -0.5, 1.5, 10.0),
        (1.0, 2.0, 0.5, 1.5, -1.0),
        (1.0, 1.2, 0.5, 1.5, 10.0),
        (1.0, 2.0, 1.2, 1.5, 10.0),
        (-1.0, float("nan"), -3.0, 0.0, -2.0),
    ],
)
def test_one_bar_fails_bar_problem_exactly_where_and_how_it_fails_check_values(bar):
    """The live feeds' scalar check and the array check agree on verdict and wording."""
    try:
        check_values({c: np.array([v]) for c, v in zip(COLUMNS, bar)}, "bar")
        expected = None
    except BarsError as exc:
        expected = str(exc).removeprefix("bar row 1: ")
    assert bar_problem(*bar) == expected


def test_a_row_with_more_fields_than_its_header_is_refused_naming_the_counts(tmp_path):
    """Backtrader's minute files carry a time their Date-only header leaves out: such rows load; a row with
    yet another field does not."""
    header = "Date,Open,High,Low,Close,Volume,OpenInterest\n"
    rows = [
        "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0",
        "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0",
    ]
    assert load_bars(write(tmp_path, rows, header)).index[1] == pd.Timestamp("2006-01-02 09:02")
    path = write(tmp_path, [*rows, "2006-01-02,09:03:00,3600.00,3601.00,3598.00,3599.00,894,0,7"], header)
    with pytest.raises(BarsError) as err:
        load_bars(path)
    assert str(err.value) == (f"{path} row 3: 9 fields, expected 7 like the header (or 8, a time after the date)")


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name != "backtrader-minutes"])
def test_a_parquet_file_loads_as_the_csv_of_the_same_columns(tmp_path, layout):
    csv = layout_file(tmp_path, layout)
    pd.read_csv(csv, sep=None, engine="python", dtype=str, encoding="utf-8-sig").to_parquet(tmp_path / "bars.parquet")
    pd.testing.assert_frame_equal(load_bars(tmp_path / "bars.parquet"), load_bars(csv), check_exact=True)


def test_a_parquet_file_of_typed_columns_is_checked_as_a_csv_is(tmp_path):
    times = pd.DatetimeIndex(["2020-01-02 09:30", "2020-01-03 09:30", "2020-01-06 09:30"]).tz_localize("US/Eastern")
    frame = pd.DataFrame(
        {
            "Timestamp": times,
            "Open": [10.0, 10.2, 10.4],
            "High": [10.5, 10.6, 10.9],
            "Low": [9.8, 10.1, 10.3],
            "Close": [10.2, 10.4, 10.8],
            "Volume": [1000, 1100, 900],
        }
    )
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    bars = load_bars(path)
    assert bars.index[0] == pd.Timestamp("2020-01-02 14:30") and bars["volume"].tolist() == [1000.0, 1100.0, 900.0]
    assert load_symbols([f"SPX={path}"])["SPX"].equals(bars)
    frame.loc[1, "High"] = 10.3
    frame.to_parquet(path)
    with pytest.raises(BarsError) as err:
        load_bars(path)
    assert str(err.value) == f"{path} row 2 (2020-01-03 14:30:00): high 10.3, expected high >= max(open, close)"
    frame.drop(columns="Volume").to_parquet(path)
    with pytest.raises(BarsError, match=r"bars.parquet: missing column\(s\) volume"):
        load_bars(path)
    path.write_text("Date,Open,High,Low,Close,Volume\n")
    with pytest.raises(BarsError, match=r"bars.parquet: not readable as Parquet \("):
        load_bars(path)
