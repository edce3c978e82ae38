"""`SignalIndicator`: a model's outputs (class probabilities, a forecast or a ranking score) as Backtrader lines."""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from array import array

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.days import day_blocks
from signalstack.core.errors import InvalidInput
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

    Lines the source has no output for stay NaN (p_flat for a binary model, ...); a multi-output model
    fills the lines of all its outputs, a path regressor's step t+h (h its horizon) `forecast`. The
    data reach the source through a `_Scoring`: `_Bars` (the data's bars, with `fundamentals`, dated
    rows, or a second data from `fundamentals_feed` for a two-input model) or `_Days` (a day x intraday
    model: `SignalIndicator(daily, intraday, source=...)`). Preloaded data (backtests) are scored in
    one call (`once`, and `next` alike), live data bar by bar (`next`): the same values, as scoring is causal.
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
            raise InvalidInput(
                f"{source.name}: outputs {source.columns}, expected outputs among "
                f"{', '.join(OUTPUT_LINES)} (or a path t+1 .. t+horizon)"
            )
        names = list(OUTPUT_LINES.values())
        self._fills = [(names.index(lines[c]), i) for i, c in enumerate(source.columns) if c in lines]  # (line, output)
        self._scoring: _Scoring = _Days(self) if source.intraday else _Bars(self)
        self.addminperiod(self._scoring.minperiod)
        self._seen: tuple[float, ...] = ()  # the data's bar taken last, bar by bar (see `_new_bar`)

    def once(self, start: int, end: int) -> None:
        end = min(end, len(self.data.close.array))
        if start < end:
            scores = self._scoring.series()[start:end]
            for k, i in self._fills:
                self.lines[k].array[start:end] = array("d", scores[:, i].tolist())

    def prenext(self) -> None:
        if self._new_bar():
            self._scoring.history()

    def next(self) -> None:
        if not self._new_bar():
            return  # a step of another data's bar: this data's bar and lines are the ones it has
        outputs = self._scoring.current()
        for k, i in self._fills:
            self.lines[k][0] = math.nan if outputs is None else float(outputs[i])

    def _new_bar(self) -> bool:
        """Whether the data has a bar not taken yet. Bar by bar, Backtrader steps every indicator at each time any
        data of the strategy has a bar (several symbols whose trading days differ): a data without a bar then
        keeps its last one, which must be neither scored again nor pushed twice to a live scorer. A replayed bar
        (a day filling up from its minutes) keeps its place but changes, and is taken again each time it does."""
        data = self.data
        bar = (len(self), data.datetime[0], data.close[0], data.high[0], data.low[0], data.volume[0])
        if bar == self._seen:
            return False
        self._seen = bar
        return True

    def probabilities(self) -> pd.DataFrame:
        """The lines so far as a frame indexed by bar time, one column per output of the source
        ('down', 'up', ... or 'forecast' or 'score')."""
        n = self.buflen()
        outputs = list(OUTPUT_LINES)
        table = {outputs[k]: np.asarray(self.lines[k].array[:n]) for k, _ in self._fills}
        return pd.DataFrame(table, index=bar_times(self.data.datetime.array[:n]))

    @property
    def live_scorer(self) -> LiveScorer | None:
        """The scorer of the live path (None until the first live bar): its `version` is the model
        version behind the current outputs."""
        return self._scoring.live


class _Scoring(ABC):
    """How an indicator's data reach its source: every bar the data hold in one call (`series`), or
    the current bar (`current`: from that call when the data are preloaded, else as it comes live)."""

    minperiod: int  # bars of the indicator's data up to the first with outputs

    def __init__(self, indicator: SignalIndicator) -> None:
        self.indicator = indicator
        self.source: SignalSource = indicator.p.source
        self.live: LiveScorer | None = None  # made by the first live bar
        self._series: np.ndarray | None = None
        self._check_tensor_inputs()

    def series(self) -> np.ndarray:
        """(bars, the source's columns) outputs for every bar the data holds, NaN where there are none; once."""
        if self._series is None:
            bars = data_bars(self.indicator.data)
            scored = self._score(bars).reindex(index=bars.index, columns=self.source.columns)
            self._series = scored.to_numpy(dtype=np.float64)
            log.debug("%s: scored %d bars in one call", self.source.name, len(bars))
        return self._series

    @abstractmethod
    def current(self) -> np.ndarray | None:
        """The source's outputs at the current bar; None: no signal for it."""

    def history(self) -> None:  # noqa: B027 - a no-op unless a scorer keeps bars: overriding is optional
        """Keep the current bar, one of the warm-up, where a live scorer needs it."""

    @abstractmethod
    def _score(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Outputs for every bar of `bars` (all the indicator's data holds) in one call, indexed by bar time."""

    def _check_tensor_inputs(self) -> None:
        """Refuse, naming them, tensor inputs the indicator has no way to make."""
        source, indicator = self.source, self.indicator
        if not source.tensor_inputs:
            return
        unmade = [i.name for i in source.tensor_inputs if len(i.shape) != 1 or len(i.columns) != i.shape[0]]
        if unmade:
            raise InvalidInput(
                f"{source.name}: inputs {unmade} are tensors a bar feed cannot make (factor "
                "images): score them elsewhere and trade a PrecomputedSource"
            )
        if indicator.p.fundamentals is None and (len(indicator.datas) < 2 or source.intraday):
            wanted = {i.name: list(i.columns) for i in source.tensor_inputs}
            raise InvalidInput(
                f"{source.name}: takes {wanted} besides bars: expected fundamentals=DataFrame "
                "(dated rows with those columns) or a second data from fundamentals_feed"
            )
        if indicator.p.fundamentals is None:
            lines = set(indicator.datas[1].lines.getlinealiases())
            missing = [c for i in source.tensor_inputs for c in i.columns if c not in lines]
            if missing:
                raise InvalidInput(
                    f"{source.name}: second data {indicator.datas[1]._name!r} lacks lines {missing} "
                    "(expected a fundamentals_feed with the model's columns)"
                )


class _Bars(_Scoring):
    """A model of the indicator's own bars, with its tensor inputs (a two-input net's fundamentals):
    a bar gets the latest fundamentals row dated at or before it, the rule training used (bars
    before the first row get NaN). Live, each bar is pushed to the source's live scorer
    (`source.live()`), which keeps the history it needs; a replayed bar is scored again as it updates."""

    def __init__(self, indicator: SignalIndicator) -> None:
        super().__init__(indicator)
        self.minperiod = self.source.bars_required

    def current(self) -> np.ndarray | None:
        data = self.indicator.data
        if self._series is not None or data.buflen() > len(data):  # preloaded: the bars ahead are there to batch
            return self.series()[len(self.indicator) - 1]
        return self._push()

    def history(self) -> None:
        if self.indicator.data.buflen() == len(self.indicator.data):  # live
            self._push(score=False)

    def _score(self, bars: pd.DataFrame) -> pd.DataFrame:
        return self.source.predict_series(bars, self._tensors(bars.index))

    def _push(self, score: bool = True) -> np.ndarray | None:
        """The current bar pushed to the live scorer (made on the first bar); `score` False keeps it as history."""
        if self.live is None:
            self.live = self.source.live()
        data = self.indicator.data
        time = bar_time(data.datetime[0])
        bar = (data.open[0], data.high[0], data.low[0], data.close[0], data.volume[0])
        tensors, known = {}, True
        if self.source.tensor_inputs:
            tensors = self._tensors(pd.DatetimeIndex([time]), newest=True)
            known = all(np.isfinite(x).all() for x in tensors.values())  # fundamentals published yet
        return self.live.push(time, bar, tensors, score=score and known)

    def _tensors(self, times: pd.DatetimeIndex, newest: bool = False) -> dict[str, np.ndarray]:
        """The source's tensor inputs for bars at `times`: the latest fundamentals row dated <= each.

        `newest`: `times` is the bar being scored live, so of a second data only its newest row
        holding values counts; reading just that keeps a live bar's cost flat as the feed grows.
        """
        inputs = self.source.tensor_inputs
        if not inputs:
            return {}
        frame = self.indicator.p.fundamentals
        if frame is None:
            data = self.indicator.datas[1]
            columns = sorted({c for i in inputs for c in i.columns})
            arrays = [getattr(data.lines, c).array for c in columns]
            n = data.buflen()
            rows = slice(0, n)
            if newest:  # the last row that is not all NaN (rows before the first publication are)
                rows = next(
                    (slice(i, i + 1) for i in range(n - 1, -1, -1) if not all(math.isnan(a[i]) for a in arrays)),
                    slice(0, 0),
                )
            frame = pd.DataFrame(
                {c: np.asarray(a[rows], dtype=np.float64) for c, a in zip(columns, arrays)},
                index=bar_times(data.datetime.array[rows]),
            ).dropna(how="all")
        return {i.name: fundamentals_at(frame, times, i.columns) for i in inputs}


class _Days(_Scoring):
    """A day x intraday model (hier_lstm, td_cnn_lstm, cnn1d) on a daily clock: the indicator's data
    is the daily data (e.g. `cerebro.resampledata` of the intraday feed), its second data the
    intraday feed. A daily bar gets the prediction made at its date's last intraday bar, from
    intraday bars of that date and before only; a date whose session is too short for the model's
    block gets NaN. Preloaded intraday data are scored in one call, live ones once a day."""

    def __init__(self, indicator: SignalIndicator) -> None:
        super().__init__(indicator)
        if len(indicator.datas) < 2:
            raise InvalidInput(
                f"{self.source.name}: reads day x intraday blocks: expected the intraday data as the "
                "indicator's second data, SignalIndicator(daily, intraday, source=...)"
            )
        self.minperiod = self.source.card.window  # days: the daily clock's history, counted in days
        self._days: pd.DataFrame | None = None

    def current(self) -> np.ndarray | None:
        intraday = self.indicator.datas[1]
        if intraday.buflen() > len(intraday):  # preloaded: the day's prediction from the one call
            return self._score(data_bars(self.indicator.data, last=1)).to_numpy(dtype=np.float64)[0]
        # live: from the intraday bars of the current date and the days before it the model reads
        card, date = self.source.card, bar_time(self.indicator.data.datetime[0]).normalize()
        bars = data_bars(intraday, last=len(intraday))
        bars = bars.loc[bars.index.normalize() <= date]
        per_day = card.bars_input.shape[-2]
        keep = card.window + -(-card.warmup // per_day) + 2  # days, the warm-up's included
        dates = bars.index.normalize().unique()
        if len(dates):
            bars = bars.loc[bars.index.normalize() >= dates[max(0, len(dates) - keep)]]
        ends = day_blocks(bars.to_numpy(), bars.index, card.warmup, per_day)[1]  # the runtime's day rule
        if len(ends) < card.window or bars.index[ends[-1]].normalize() != date:
            return None  # no session that date, too short, or too little history
        return self.source.predict_last(bars)

    def _score(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The predictions at the closing intraday bar of each date of `bars`, indexed by its times; one
        call over the whole intraday series (causal: a date's value reads bars up to its close)."""
        if self._days is None:
            scored = self.source.predict_series(data_bars(self.indicator.datas[1])).dropna(how="all")
            self._days = scored.set_axis(scored.index.normalize())
        return self._days.reindex(bars.index.normalize()).set_axis(bars.index)
