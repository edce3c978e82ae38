from pathlib import Path

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalstack.models.data import COLUMNS, BarsError, check_values, load_bars

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


@pytest.mark.parametrize(("row", "message"), [
    ("2020-01-03,10.2,10.6,10.1,nan,10.4,1100", "row 2 (2020-01-03 00:00:00): close nan, expected a finite number"),
    ("2020-01-03,-10.2,10.6,10.1,10.4,10.4,1100", "row 2 (2020-01-03 00:00:00): open -10.2, expected a price > 0"),
    ("2020-01-03,10.2,10.3,10.1,10.4,10.4,1100", "row 2 (2020-01-03 00:00:00): high 10.3, expected high >= max(open, close)"),
    ("2020-01-03,10.2,10.6,10.3,10.4,10.4,1100", "row 2 (2020-01-03 00:00:00): low 10.3, expected low <= min(open, close)"),
    ("2020-01-03,10.2,10.6,10.1,10.4,10.4,-5", "row 2 (2020-01-03 00:00:00): volume -5, expected volume >= 0"),
])
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
    frame = pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Open": [1.0, 1.1], "High": [1.2, 1.2],
                          "Low": [0.9, 1.0], "Close": [1.1, 1.15], "Volume": [5, 6]})
    bars = load_bars(frame)
    assert bars.index[1] == pd.Timestamp("2020-01-03")
    assert bars.dtypes.unique().tolist() == [np.dtype("float64")]


def test_embedded_samples_are_real_daily_bars():
    for name in ("sp500", "nasdaq"):
        bars = load_bars(f"sample:{name}")
        assert len(bars) > 5000
        assert bars.index[0].year == 1999 and bars.index[-1].year == 2018


@pytest.mark.parametrize(("name", "rows", "first"), [
    ("orcl-1995-2014.csv", 5036, "1995-01-03"),
    ("2005-2006-day-001.csv", 512, "2005-01-03"),
    ("2006-min-005.csv", 2142, "2006-01-02 09:05:00"),
    ("2006-01-02-volume-min-001.csv", 30889, "2006-01-02 09:01:00"),
])
def test_shared_files_in_every_layout_load(name, rows, first):
    bars = load_bars(shared_csv(name))
    assert len(bars) == rows
    assert bars.index[0] == pd.Timestamp(first)


_ODD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 0.5, 1.0, 3.0, 1e308])


@st.composite
def _row(draw: st.DrawFn) -> tuple[float, ...]:
    """A clean bar, or one with a field swapped for an odd value (bad, or good only by chance)."""
    o, c = draw(st.floats(1.0, 2.0)), draw(st.floats(1.0, 2.0))
    row = [o, max(o, c) * draw(st.floats(1.0, 1.01)), min(o, c) * draw(st.floats(0.99, 1.0)), c,
           draw(st.floats(0.0, 1e6))]
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
