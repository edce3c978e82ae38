"""Backtest speed in one run on the same bars: Backtrader's SMA(10/30) crossover against the ML strategy.

    python bench/backtest.py [--model FILE.onnx] [--bars 10000] [--per-bar 2000]
                             [--symbols 100] [--symbol-bars 2500]

Cases, each a full `cerebro.run()` (feed loading included) with the same broker and costs:
- SMA(10/30) crossover: the baseline every ratio is against;
- SignalStrategy on the crossover's own signal as a precomputed table: the same trades, so the
  plugin's cost per bar with no model;
- SignalStrategy in process: one batched onnxruntime call for the whole series;
- SignalStrategy through a signalstack server on 127.0.0.1: one PredictSeries call;
- SignalStrategy with one onnxruntime call per bar, then one gRPC call per bar (the live path,
  data not preloaded), over the first --per-bar scored bars (each call computes its window's
  features, milliseconds); their bar count includes the model's warm-up bars;
- RankingStrategy over --symbols random walks of --symbol-bars bars (top 10, rebalanced every 5
  bars), in a fresh process so its peak memory is its own.

The batched cases run --repeat times, interleaved, and keep their best time. Without --model a
tiny LSTM is trained on the S&P 500 sample first (not timed). Bars are a seeded geometric random
walk. Default run: under 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.plugin import GrpcSource, OnnxSource, PrecomputedSource, RankingStrategy, SignalStrategy, bars_feed
from signalstack.plugin.defaults import CASH, COMMISSION, STAKE


def random_walk(n: int, seed: int, start: str = "1980-01-01") -> pd.DataFrame:
    """`n` business-day OHLCV bars of a geometric random walk (0.03% drift, 1.2% daily volatility)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, n)))
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.lognormal(14.0, 0.3, n)},
        index=pd.bdate_range(start, periods=n, name="time"),
    )


class SmaCross(bt.Strategy):
    """Long `stake` of equity while SMA(fast) is above SMA(slow), flat otherwise."""

    params = (("fast", 10), ("slow", 30), ("stake", STAKE))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))

    def next(self) -> None:
        if self.cross[0] > 0:
            self.order_target_percent(target=self.p.stake)
        elif self.cross[0] < 0:
            self.order_target_percent(target=0.0)


def sma_signal(bars: pd.DataFrame, fast: int = 10, slow: int = 30) -> PrecomputedSource:
    """The crossover as p_up (0.6 while SMA(fast) > SMA(slow), else 0.4): SignalStrategy on it makes
    SmaCross's trades, so its time against SmaCross's is the plugin's own cost per bar."""
    above = bars["close"].rolling(fast).mean() > bars["close"].rolling(slow).mean()
    p_up = np.where(above, 0.6, 0.4)
    p_up[: slow - 1] = np.nan
    return PrecomputedSource(pd.DataFrame({"down": 1.0 - p_up, "up": p_up}, index=bars.index))


def timed_run(
    strategy: type[bt.Strategy], datas: Sequence[pd.DataFrame], *, preload: bool = True, **params: object
) -> tuple[float, int]:
    """Seconds of one cerebro.run() and the orders it filled."""
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
    for i, bars in enumerate(datas):
        cerebro.adddata(bars_feed(bars, f"s{i}"))
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    cerebro.addstrategy(strategy, **params)
    began = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - began
    return seconds, sum(1 for order in cerebro.broker.orders if order.status == order.Completed)


def train_tiny(folder: Path) -> Path:
    """A binary LSTM (8 -> 8, window 20) trained for two epochs on the S&P 500 sample."""
    from signalstack.core.bars import load_bars
    from signalstack.models.config import TrainConfig
    from signalstack.models.pipeline import train_and_export

    out = folder / "tiny.onnx"
    train_and_export(
        load_bars("sample:sp500"),
        out,
        window=20,
        params={"hidden": (8, 8), "dropout": 0.1},
        config=TrainConfig(epochs=2, progress=False),
        data_source="sample:sp500",
    )
    return out


def portfolio_case(model: Path, symbols: int, n: int) -> tuple[float, int, float, float]:
    """Seconds, fills, resident MiB just before the run and peak resident MiB of RankingStrategy
    over `symbols` walks. Meant for a fresh process, so that the peak is this case's alone."""
    source = OnnxSource(model)
    universe = [random_walk(n, seed=1000 + i, start="2000-01-03") for i in range(symbols)]
    before = _memory_mib("VmRSS")
    seconds, filled = timed_run(RankingStrategy, universe, source=source, top_k=10, rebalance=5)
    return seconds, filled, before, _memory_mib("VmHWM")


def _memory_mib(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, from Linux /proc.

    Not getrusage's ru_maxrss: a spawned process inherits there the peak of the process it was
    forked from (the parent, torch and all), as exec keeps the maximum.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    raise ValueError(f"/proc/self/status: no {field} line (expected Linux)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX model of signalstack (default: train a tiny one)")
    parser.add_argument("--bars", type=int, default=10_000, help="bars of the single-symbol cases")
    parser.add_argument("--per-bar", type=int, default=2_000, help="bars of the call-per-bar cases")
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--symbol-bars", type=int, default=2_500)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each batched case; the best counts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from signalstack.server.app import SignalServer
    from signalstack.server.options import ServeOptions

    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as scratch:
        model = args.model or train_tiny(Path(scratch))
        source = OnnxSource(model)
        bars = random_walk(args.bars, seed=7)
        per_bar = bars.iloc[: source.card.bars_required - 1 + args.per_bar]
        print(
            f"model {model.name}: {source.card.architecture}, window {source.card.window}, "
            f"{source.card.bars_required} bars of history per prediction",
            file=sys.stderr,
        )
        served = Path(scratch) / "served"
        served.mkdir()
        shutil.copy(model, served / model.name)  # the server loads every model of its folder: only this one
        with SignalServer(ServeOptions(served, grace=0)) as server, GrpcSource(server.address, model.stem) as remote:
            batched = [
                ("SMA(10/30) crossover", SmaCross, {}),
                ("SMA's own signal as a table", SignalStrategy, {"source": sma_signal(bars)}),
                ("ML in process (1 batched call)", SignalStrategy, {"source": source}),
                ("ML via gRPC (1 PredictSeries)", SignalStrategy, {"source": remote}),
            ]
            best = {label: (math.inf, 0) for label, _, _ in batched}
            for _ in range(args.repeat):  # interleaved, best of each: other load on the machine is noise
                for label, strategy, params in batched:
                    best[label] = min(best[label], timed_run(strategy, [bars], **params))
            rows = [(label, len(bars), *best[label]) for label, _, _ in batched]
            for label, params in (
                ("ML, 1 onnxruntime call per bar", {"source": source}),
                ("ML, 1 gRPC call per bar", {"source": remote}),
            ):
                rows.append((label, len(per_bar), *timed_run(SignalStrategy, [per_bar], preload=False, **params)))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            seconds, filled, before, peak = pool.submit(portfolio_case, model, args.symbols, args.symbol_bars).result()
    print(_table(rows))
    print(
        f"\n{args.symbols} symbols x {args.symbol_bars} bars, RankingStrategy top 10 every 5 bars "
        f"({args.symbols} batched inferences): {seconds:.1f}s, {args.symbols * args.symbol_bars / seconds:,.0f} "
        f"symbol-bars/s, {filled} fills; peak RSS {peak:.0f} MiB, {peak - before:.0f} MiB over the "
        f"{before:.0f} MiB resident before the run (imports, model, bars)"
    )
    return 0


def _table(rows: list[tuple[str, int, float, int]]) -> str:
    baseline = rows[0][1] / rows[0][2]
    lines = [f"{'case':<34}{'bars':>8}{'seconds':>10}{'bars/s':>10}{'x SMA':>8}{'fills':>8}"]
    for label, n, seconds, filled in rows:
        speed = n / seconds
        lines.append(f"{label:<34}{n:>8}{seconds:>10.2f}{speed:>10,.0f}{speed / baseline:>8.2f}{filled:>8}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
