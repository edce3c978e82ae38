"""`SignalIndicator`: a model's outputs (class probabilities, a forecast or a ranking score) as Backtrader lines."""

from __future__ import annotations

import logging
import math
import re
from array import array

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.fundamentals import fundamentals_at

from signalstack.core.times import bar_time, bar_times

from .feeds import data_bars
from .sources import LiveScorer, SignalSource

log = logging.getLogger(__name__)

OUTPUT_LINES = {"down": "p_down", "flat": "p_flat", "up": "p_up", "forecast": "forecast", "score": "score"}
"""The line that carries each output a source may have: a class's probability, a regressor's
forecast (e.g. the return over the horizon), a ranking model's score."""

_PATH_STEP = re.compile(r"^t\+[1-9][0-9]*$")


def output_lines(source: SignalSource) -> dict[str, str]:
    """{output column: the line it fills}. A path regressor's steps t+1 .. t+h fill no line of their
    own; its last step, the return over the model's horizon, fills `forecast`."""
    horizon_step = f"t+{source.horizon}"
    lines = {c: OUTPUT_LINES[c] for c in source.columns if c in OUTPUT_LINES}
    if horizon_step in source.columns and "forecast" not in lines:
        lines[horizon_step] = "forecast"
    return lines

class SignalIndicator(bt.Indicator):
    """The outputs of a `SignalSource` for every bar: lines p_down, p_flat, p_up, forecast, score.

    Lines the source has no output for stay NaN (p_flat for a binary model, the probabilities for
    a regressor, ...). A path regressor's step t+h (h the model's horizon) fills `forecast`.

    Backtest path (preloaded data, also resampled): on the first bar it can score, it reads the
    whole preloaded series and asks the source for all bars in one call (a few batched RPCs for a
    server), then serves lines from memory. Reading the full arrays only batches the work:
    `predict_series` is causal, so the value at bar t depends on bars <= t alone. runonce and next
    modes make the same single call.

    Live path (data not preloaded: live feeds, replayed bars): each bar is pushed, when it comes,
    to the source's live scorer (`source.live()`), which keeps the history it needs; a replayed
    bar is scored again as it updates. Features are windowed exactly, so both paths give the same
    values.

    Two-input models (fundamental factors beside the bars): `fundamentals` is a DataFrame keyed
    by the date each row became known, with the columns the model card names; or pass it as
    the indicator's second data (`fundamentals_feed`). A bar gets the latest row dated at or
    before it, the rule training used; bars before the first row get NaN. A multi-output model
    fills the lines of all its outputs (a multi-task net: p_down, p_flat, p_up and forecast).

    Day x intraday models (hier_lstm, td_cnn_lstm, cnn1d) read intraday bars and decide daily:
    the indicator's data is the daily data (e.g. `cerebro.resampledata` of the intraday feed) and
    its second data the intraday feed, `SignalIndicator(daily, minutes, source=...)`. A daily bar
    gets the prediction made at its date's last intraday bar, from intraday bars of that date and
    before only; a date whose session is too short for the model's block gets NaN.
    """

    lines = tuple(OUTPUT_LINES.values())
    params = (("source", None), ("fundamentals", None))

    def __init__(self) -> None:
        source: SignalSource | None = self.p.source
        if source is None:
            raise ValueError("SignalIndicator: source is None, expected a SignalSource")
        lines = output_lines(source)
        unknown = [c for c in source.columns if c not in OUTPUT_LINES and not _PATH_STEP.match(c)]
        if unknown or not lines:
            raise ValueError(f"{source.name}: outputs {source.columns}, expected outputs among "
                             f"{', '.join(OUTPUT_LINES)} (or a path t+1 .. t+horizon)")
        self._used = [i for i, c in enumerate(source.columns) if c in lines]  # outputs that fill a line
        self._columns = [list(OUTPUT_LINES.values()).index(lines[source.columns[i]]) for i in self._used]
        self._check_tensor_inputs(source)
        if source.intraday and len(self.datas) < 2:
            raise ValueError(f"{source.name}: reads day x intraday blocks: expected the intraday data as the "
                             "indicator's second data, SignalIndicator(daily, intraday, source=...)")
        self._scores: np.ndarray | None = None
        self._days: pd.DataFrame | None = None  # an intraday model's predictions by date, when batched
        self._live: LiveScorer | None = None  # the live path's scorer, made on the first live bar
        # An intraday model's history is counted in intraday bars; its daily clock needs `window` days.
        self.addminperiod(source.card.window if source.intraday else source.bars_required)

    def once(self, start: int, end: int) -> None:
        end = min(end, len(self.data.close.array))
        if start >= end:
            return
        scores = self._score_loaded()
        for k in self._columns:
            self.lines[k].array[start:end] = array("d", scores[start:end, k].tolist())

    def prenext(self) -> None:
        if not self.p.source.intraday and self.data.buflen() == len(self.data):
            self._score_last(score=False)  # live: the scorer keeps the bars of the warm-up

    def next(self) -> None:
        if self.p.source.intraday:
            row = self._score_day()
        else:
            if self._scores is None and self.data.buflen() > len(self.data):
                self._score_loaded()  # preloaded: the bars ahead are there to batch
            row = self._scores[len(self) - 1] if self._scores is not None else self._score_last()
        for k in self._columns:
            self.lines[k][0] = row[k]

    def probabilities(self) -> pd.DataFrame:
        """The lines so far as a frame indexed by bar time, one column per output of the source
        ('down', 'up', ... or 'forecast' or 'score')."""
        n = self.buflen()
        outputs = list(OUTPUT_LINES)
        table = {outputs[k]: np.asarray(self.lines[k].array[:n]) for k in self._columns}
        return pd.DataFrame(table, index=bar_times(self.data.datetime.array[:n]))

    def _check_tensor_inputs(self, source: SignalSource) -> None:
        """Refuse, naming them, tensor inputs this indicator has no way to make."""
        if not source.tensor_inputs:
            return
        unmade = [i.name for i in source.tensor_inputs if len(i.shape) != 1 or len(i.columns) != i.shape[0]]
        if unmade:
            raise ValueError(f"{source.name}: inputs {unmade} are tensors a bar feed cannot make (factor "
                             "images): score them elsewhere and trade a PrecomputedSource")
        if self.p.fundamentals is None and (len(self.datas) < 2 or source.intraday):
            wanted = {i.name: list(i.columns) for i in source.tensor_inputs}
            raise ValueError(f"{source.name}: takes {wanted} besides bars: expected fundamentals=DataFrame "
                             "(dated rows with those columns) or a second data from fundamentals_feed")
        if self.p.fundamentals is None:
            lines = set(self.datas[1].lines.getlinealiases())
            missing = [c for i in source.tensor_inputs for c in i.columns if c not in lines]
            if missing:
                raise ValueError(f"{source.name}: second data {self.datas[1]._name!r} lacks lines {missing} "
                                 "(expected a fundamentals_feed with the model's columns)")

    def _tensors(self, times: pd.DatetimeIndex, newest: bool = False) -> dict[str, np.ndarray]:
        """The source's tensor inputs for bars at `times`: the latest fundamentals row dated <= each.

        `newest`: `times` is the bar being scored live, so of a second data only its newest row
        holding values counts; reading just that keeps a live bar's cost flat as the feed grows.
        """
        inputs = self.p.source.tensor_inputs
        if not inputs:
            return {}
        frame = self.p.fundamentals
        if frame is None:
            data = self.datas[1]
            columns = sorted({c for i in inputs for c in i.columns})
            arrays = [getattr(data.lines, c).array for c in columns]
            n = data.buflen()
            rows = slice(0, n)
            if newest:  # the last row that is not all NaN (rows before the first publication are)
                rows = next((slice(i, i + 1) for i in range(n - 1, -1, -1)
                             if not all(math.isnan(a[i]) for a in arrays)), slice(0, 0))
            frame = pd.DataFrame({c: np.asarray(a[rows], dtype=np.float64) for c, a in zip(columns, arrays)},
                                 index=bar_times(data.datetime.array[rows])).dropna(how="all")
        return {i.name: fundamentals_at(frame, times, i.columns) for i in inputs}

    def _score_loaded(self) -> np.ndarray:
        """(bars, lines) outputs for every bar the data holds, NaN where the source gave none; once."""
        if self._scores is None:
            bars = data_bars(self.data)
            if self.p.source.intraday:
                scored = self._score_days(bars.index)
            else:
                scored = self.p.source.predict_series(bars, self._tensors(bars.index))
            scored = scored.reindex(index=bars.index, columns=self.p.source.columns)
            self._scores = self._to_lines(scored.to_numpy(dtype=np.float64))
            log.debug("%s: scored %d bars in one call", self.p.source.name, len(bars))
        return self._scores

    def _score_days(self, days: pd.DatetimeIndex) -> pd.DataFrame:
        """An intraday model's predictions at each date's closing intraday bar, indexed by `days`;
        one call over the whole intraday series (causal: a date's value reads bars up to its close)."""
        if self._days is None:
            scored = self.p.source.predict_series(data_bars(self.datas[1])).dropna(how="all")
            self._days = scored.set_axis(scored.index.normalize())
        return self._days.reindex(days.normalize()).set_axis(days)

    def _score_day(self) -> np.ndarray:
        """An intraday model's outputs for the current daily bar: from the batched table when the
        intraday data is preloaded, else from the intraday bars of its date and the days before."""
        date = bar_times([self.data.datetime[0]])
        if self.datas[1].buflen() > len(self.datas[1]):
            return self._to_lines(self._score_days(date).to_numpy(dtype=np.float64))[0]
        source, date = self.p.source, date[0].normalize()
        intraday = data_bars(self.datas[1], last=len(self.datas[1]))
        intraday = intraday.loc[intraday.index.normalize() <= date]
        per_day = source.card.bars_input.shape[-2]
        keep = source.card.window + -(-source.card.warmup // per_day) + 2  # days, the warm-up's included
        dates = intraday.index.normalize().unique()
        if len(dates):
            intraday = intraday.loc[intraday.index.normalize() >= dates[max(0, len(dates) - keep)]]
        usable = intraday.iloc[source.card.warmup:]  # the runtime's rule: rows after the warm-up, per day
        per_date = usable.groupby(usable.index.normalize()).size()
        complete = per_date[per_date >= per_day]
        if len(complete) < source.card.window or complete.index[-1] != date:
            return np.full(len(OUTPUT_LINES), np.nan)  # no session that date, too short, or too little history
        return self._to_lines(source.predict_last(intraday).reshape(1, -1))[0]

    def _score_last(self, score: bool = True) -> np.ndarray:
        """The live path: the current bar pushed to the source's live scorer (made on the first bar);
        `score` False keeps it as history only."""
        if self._live is None:
            self._live = self.p.source.live()
        data = self.data
        time = bar_time(data.datetime[0])
        bar = (data.open[0], data.high[0], data.low[0], data.close[0], data.volume[0])
        tensors, known = {}, True
        if self.p.source.tensor_inputs:
            tensors = self._tensors(pd.DatetimeIndex([time]), newest=True)
            known = all(np.isfinite(x).all() for x in tensors.values())  # fundamentals published yet
        outputs = self._live.push(time, bar, tensors, score=score and known)
        if outputs is None:
            return np.full(len(OUTPUT_LINES), np.nan)
        return self._to_lines(np.asarray(outputs, dtype=np.float64).reshape(1, -1))[0]

    @property
    def live_scorer(self) -> LiveScorer | None:
        """The scorer of the live path (None until the first live bar): its `version` is the model
        version behind the current outputs."""
        return self._live

    def _to_lines(self, outputs: np.ndarray) -> np.ndarray:
        out = np.full((len(outputs), len(OUTPUT_LINES)), np.nan)
        out[:, self._columns] = outputs[:, self._used]
        return out
