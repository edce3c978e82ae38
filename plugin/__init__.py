"""Backtrader plugin: a model's probabilities as an indicator, a strategy on them, backtests and reports.

Data flows one way: `sources` (ONNX in process, gRPC, or a table) -> `indicators` -> `strategies`
-> `backtest` (Cerebro, costs, benchmark) -> `stats` -> `report`. Importing this package loads
Backtrader and pandas, not torch or onnxruntime; a source loads its runtime when it is made.
"""

from .backtest import BacktestResult, run_backtest
from .feeds import bars_feed
from .indicators import SignalIndicator
from .report import format_report, write_report
from .sources import GrpcSource, OnnxSource, PrecomputedSource, SignalSource, open_source
from .stats import buy_and_hold, performance, signal_hit_rate
from .strategies import SignalStrategy

__all__ = [
    "BacktestResult", "GrpcSource", "OnnxSource", "PrecomputedSource", "SignalIndicator", "SignalSource",
    "SignalStrategy", "bars_feed", "buy_and_hold", "format_report", "open_source", "performance",
    "run_backtest", "signal_hit_rate", "write_report",
]
