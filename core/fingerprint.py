"""Fingerprints of the data a model or a run read: an edited bar, a moved date or a renamed column changes them.

A run's digest and every fold model's card record them, so that two runs (or a run and a resume of it) can tell
whether they read the same numbers, not just the same file names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pandas as pd

DIGITS = 16
"""Hex digits kept of each SHA-256."""


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 (its first `DIGITS` hex digits) of a frame's column names, index and values, row by row."""
    found = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    found.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return found.hexdigest()[:DIGITS]


def data_digest(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame], fundamentals: pd.DataFrame | None = None
) -> dict[str, str]:
    """{"bars": digest} of one series or of {symbol: bars} (the symbols and their order included), and
    {"fundamentals": digest} beside it when dated factors were read."""
    if isinstance(bars, Mapping):
        found = hashlib.sha256(json.dumps({symbol: frame_digest(frame) for symbol, frame in bars.items()}).encode())
        digests = {"bars": found.hexdigest()[:DIGITS]}
    else:
        digests = {"bars": frame_digest(bars)}
    if fundamentals is not None:
        digests["fundamentals"] = frame_digest(fundamentals)
    return digests
