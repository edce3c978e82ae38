"""The layouts of one bar series: windows of bars, and the samples the train pipeline's builders make for the nets
that read more (dated fundamentals beside windows, day x intraday blocks; panel.py's factor images and pairs too).

The builders' samples are built, per fold, by the same builders with the fold's split (walkforward.built_fold),
so each fold's scalers are fitted on its fit rows alone: such runs need `walk_forward: {expanding: true}` (the
fit rows then start at the first sample). Their baselines fit each input's newest slice (research/baselines.py).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from signalstack.core.fundamentals import load_fundamentals
from signalstack.models.pipeline import FUNDAMENTALS, INTRADAY, READS, WINDOWS, Bars, session_length
from signalstack.models.windows import Dataset

from ..settings import ExperimentFile, Intraday
from ..walkforward import Fold, built_fold, fold_dataset, plan_built, plan_folds, sample_windows
from .base import Layout, Plan, load_period, register_layout


@register_layout
class Series(Layout):
    """(window, features) windows of one series: a sample per bar, its features over bars <= t."""

    name = samples = WINDOWS
    reads = READS[WINDOWS]
    tunable = True

    def plan(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> Plan:
        samples = len(sample_windows(bars, experiment.features.spec, experiment.labels.spec, experiment.window))
        return Plan(samples, plan_folds(experiment, samples), samples)

    def fold(
        self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None, number: int
    ) -> tuple[Dataset, Fold]:
        windows = sample_windows(bars, experiment.features.spec, experiment.labels.spec, experiment.window)
        fold = plan_folds(experiment, len(windows))[number]
        return fold_dataset(
            windows,
            fold,
            features=experiment.features.spec,
            labels=experiment.labels.spec,
            window=experiment.window,
            embargo=experiment.embargo,
        ), fold


class Built(Layout):
    """Samples `signalstack train` builds for the net (pipeline.dataset_for), with each fold's split."""

    def check(self, experiment: ExperimentFile) -> None:
        super().check(experiment)
        if not experiment.walk_forward.expanding:
            raise ValueError(
                f"walk_forward.expanding: false, but model {experiment.model.name} reads {self.reads}: "
                "each fold's samples are built with the fold's split, whose fit rows start at the first "
                "sample, so that the scaler is fitted on the fit rows alone: expected walk_forward: "
                "{expanding: true}"
            )

    def builder(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> dict[str, Any]:
        """The builder's keywords that only this layout gives."""
        return {}

    def plan(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> Plan:
        samples, folds = plan_built(experiment, bars, self.builder(experiment, bars, fundamentals))
        return Plan(samples, folds, samples)  # positions: bars, days or dates, as the builder makes samples

    def fold(
        self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None, number: int
    ) -> tuple[Dataset, Fold]:
        return built_fold(experiment, bars, self.builder(experiment, bars, fundamentals), number)


@register_layout
class Fundamentals(Built):
    """Two-input nets (dual_rnn, dual_lstm, multitask): windows of bars beside the latest fundamentals row dated
    <= t. Positions count bars."""

    name = samples = FUNDAMENTALS
    reads = READS[FUNDAMENTALS]
    keys = ("fundamentals",)

    def check(self, experiment: ExperimentFile) -> None:
        super().check(experiment)
        if experiment.fundamentals is None:
            raise ValueError(
                f"fundamentals: None, expected the CSV of dated factors this two-input net reads (its "
                f"inputs: {', '.join(self.inputs)})"
            )

    def load(self, experiment: ExperimentFile) -> tuple[Bars, pd.DataFrame | None]:
        return load_period(experiment.data), load_fundamentals(experiment.fundamentals)

    def builder(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> dict[str, Any]:
        return {"fundamentals": fundamentals}


@register_layout
class IntradayBlocks(Built):
    """Day x intraday nets on intraday bars (hier_lstm, td_cnn_lstm read `days` days of each day's last
    `bars_per_day` bars; a (T, F) net given an `intraday:` section reads one day's block). One sample per day:
    positions, walk_forward sizes, the embargo and labels.horizon count days; the label compares day closes;
    trading metrics and the report backtest the day's closing bars."""

    name = samples = INTRADAY
    reads = READS[INTRADAY]
    keys = ("intraday",)

    def check(self, experiment: ExperimentFile) -> None:
        super().check(experiment)
        days = (experiment.intraday or Intraday()).days
        if len(next(iter(self.inputs.values()))) != 3 and days is not None:  # a (T, F) net: one day's block
            raise ValueError(
                f"intraday.days: {days}, not used by this model, which reads one day's block (bars per "
                "day, features): expected no days"
            )

    def builder(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> dict[str, Any]:
        section = experiment.intraday or Intraday()
        per_day = session_length(bars) if section.bars_per_day == "auto" else section.bars_per_day
        return {"days": section.days, "bars_per_day": per_day}

    def trading_bars(self, bars: Bars) -> pd.DataFrame:
        return session_bars(bars)


def session_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """One bar per date of intraday `bars`, stamped at the date's last bar: first open, highest high, lowest
    low, last close, summed volume (the day x intraday labels compare these closes)."""
    day = pd.DatetimeIndex(bars.index).normalize()
    grouped = bars.groupby(day)
    daily = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    daily.index = pd.DatetimeIndex(bars.index.to_series().groupby(day).last().to_numpy(), name=bars.index.name)
    return daily
