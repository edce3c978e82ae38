"""The HTML report renders in headless Chromium: no load errors, and a screenshot that is not blank."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.image import imread

from signalstack.plugin import PrecomputedSource, run_backtest, write_report

from ..support import CHROMIUM_FLAGS, chromium
from .support import up_probabilities


def test_html_report_renders_in_headless_chromium(sp500: pd.DataFrame, tmp_path: Path) -> None:
    browser = chromium()
    bars = sp500.loc["2012":"2014"]
    p_up = np.random.default_rng(3).uniform(0.35, 0.65, len(bars))
    result = run_backtest(
        PrecomputedSource(up_probabilities(p_up, bars.index)), bars, start=bars.index[0], symbol="sp500"
    )
    page = write_report(result, tmp_path / "report")[0]
    shot = tmp_path / "screenshot.png"
    run = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert not console, console
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1200)
    assert pixels[..., :3].std() > 0.05  # text, tables and charts, not one colour
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 100
