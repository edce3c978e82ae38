"""Backtrader analyzers: `Performance` of the account and `SignalQuality` of a model's calls.

Both compute their figures through `stats`, the one place statistics are defined, so a
`cerebro.addanalyzer(Performance)` reads the same as `run_backtest`'s result.
"""

from __future__ import annotations

from array import array
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.times import bar_times, date_number

from .feeds import data_bars
from .indicators import OUTPUT_LINES, SignalIndicator
from .ledger import Ledger
from .stats import calibration, performance, signal_quality


class Performance(bt.Analyzer):
    """Return, CAGR, Sharpe, Sortino, max drawdown, exposure, turnover and trades of the account.

    The curve is the broker's value at each close of the strategy's clock (with several datas, the
    union of their bar times) from the first at/after `start` (default: the first); figures are
    `stats.performance` of it (see there): CAGR over the calendar time the bars span, Sharpe and
    Sortino annualised with `periods_per_year` (default None: the bars per year of the curve's own
    times). Backtrader's DrawDown gives the same max drawdown (in percent). Its SharpeRatio (the
    data's timeframe and compression, factor our periods_per_year, annualize, riskfreerate 0,
    stddev_sample) also counts a first return against the starting cash, 0.0 when nothing fills on
    the first bar: it equals ours on the curve with that starting cash put in front.

    After the run: `equity` (Series), `trades` and `fills` (frames, as a strategy's ledger gives).
    """

    params = (("start", None), ("periods_per_year", None))

    def start(self) -> None:
        # One ledger per run records the orders: a signalstack strategy's own, read here; any other
        # strategy's orders are recorded by the analyzer itself.
        own = getattr(self.strategy, "ledger", None)
        self.ledger = own if isinstance(own, Ledger) else Ledger()
        self._records = own is not self.ledger
        self._from = date_number(self.p.start)
        self._times = array("d")
        self._values = array("d")

    def next(self) -> None:
        self._times.append(self.strategy.datetime[0])  # the clock: with several datas, a data's time may be stale
        self._values.append(self.strategy.broker.getvalue())

    def notify_order(self, order: bt.Order) -> None:
        if self._records:
            self.ledger.on_order(order)

    def notify_trade(self, trade: bt.Trade) -> None:
        if self._records:
            self.ledger.on_trade(trade)

    def stop(self) -> None:
        times = np.asarray(self._times)
        kept = times >= self._from
        if not kept.any():
            raise InvalidInput(
                f"Performance start {self.p.start}: after the last bar "
                f"{bar_times(times[-1:])[0] if len(times) else 'of no bars'}"
            )
        self.equity = pd.Series(np.asarray(self._values)[kept], index=bar_times(times[kept]), name="strategy")
        self.trades = self.ledger.trades()
        self.fills = self.ledger.fills()
        self.stats = performance(
            self.equity, self.trades, self.p.periods_per_year, traded_value=self.ledger.traded_value(since=self._from)
        )

    def get_analysis(self) -> dict[str, float]:
        return self.stats.to_dict()


class SignalQuality(bt.Analyzer):
    """Hit rate, precision/recall of up calls, Brier score, IC and calibration of a signal line.

    `signal` is a `SignalIndicator` (default: the strategy's `signal` attribute) and `line` one of
    its lines: p_up by default, or forecast / score (then an up call is line >= `threshold`,
    default 0, and Brier and calibration are left out). Outcomes are the close `horizon` bars
    later (default: the model's horizon), read at the end of the run: nothing peeks ahead while
    it runs. Only bars at/after `start` count. See `stats.signal_quality` and `stats.calibration`.

    After the run: `quality` (Series) and `calibration` (frame, empty for non-probability lines).
    """

    params = (
        ("signal", None),
        ("line", "p_up"),
        ("horizon", None),
        ("threshold", None),
        ("buckets", 10),
        ("start", None),
    )

    def stop(self) -> None:
        signal = self.p.signal if self.p.signal is not None else getattr(self.strategy, "signal", None)
        if not isinstance(signal, SignalIndicator):
            raise ValueError(
                f"SignalQuality: signal {signal!r} is not a SignalIndicator (pass signal=, or "
                "give the strategy a `signal` attribute)"
            )
        outputs = {line: output for output, line in OUTPUT_LINES.items()}
        output = outputs.get(self.p.line)
        predictions = signal.probabilities()
        if output not in predictions:
            raise SettingsError(
                f"SignalQuality line {self.p.line!r}: the source fills "
                f"{', '.join(OUTPUT_LINES[c] for c in predictions)}"
            )
        score = predictions[output]
        if self.p.start is not None:
            score = score.loc[pd.Timestamp(self.p.start) :]
        close = data_bars(signal.data)["close"]
        horizon = self.p.horizon or signal.p.source.horizon
        probability = self.p.line.startswith("p_")
        threshold = self.p.threshold if self.p.threshold is not None else (0.5 if probability else 0.0)
        self.quality = signal_quality(score, close, horizon, threshold, probability=probability)
        self.calibration = calibration(score, close, horizon, self.p.buckets) if probability else pd.DataFrame()

    def get_analysis(self) -> dict[str, Any]:
        return {**self.quality.to_dict(), "calibration": self.calibration.to_dict("records")}
