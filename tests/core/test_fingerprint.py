"""Data fingerprints: the same numbers give the same digest, one edited number or a moved date another."""

import numpy as np
import pandas as pd

from signalstack.core.fingerprint import data_digest, frame_digest


def bars(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame(
        {
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.integers(1000, 2000, n).astype(float),
        },
        index=pd.bdate_range("2020-01-01", periods=n, name="time"),
    )


def test_one_edited_bar_or_a_moved_date_changes_the_digest_and_a_copy_does_not():
    frame = bars()
    assert frame_digest(frame.copy()) == frame_digest(frame) and len(frame_digest(frame)) == 16
    edited = frame.copy()
    edited.iloc[25, edited.columns.get_loc("close")] *= 1.0001
    moved = frame.copy()
    moved.index = moved.index[:-1].append(pd.DatetimeIndex([moved.index[-1] + pd.Timedelta(days=7)]))
    renamed = frame.rename(columns={"volume": "vol"})
    digests = {frame_digest(f) for f in (frame, edited, moved, renamed)}
    assert len(digests) == 4


def test_a_panel_and_fundamentals_are_fingerprinted_with_the_bars():
    a, b = bars(), bars() * 2
    assert data_digest(a) == {"bars": frame_digest(a)}
    panel = data_digest({"A": a, "B": b})
    assert data_digest({"B": b, "A": a}) != panel  # the symbols' order is part of what a panel run reads
    factors = pd.DataFrame({"pe": [10.0, 11.0]}, index=pd.to_datetime(["2020-01-01", "2020-02-03"]))
    both = data_digest(a, factors)
    assert both == {"bars": frame_digest(a), "fundamentals": frame_digest(factors)}
    assert data_digest(a, factors * 1.01)["fundamentals"] != both["fundamentals"]
