"""The trading flags `backtest` and `paper run` share: strategy, sizing, costs and thresholds, defaulted
from `signalstack.plugin.defaults`, and the settings `run_backtest` / a paper run take from them."""

from __future__ import annotations

import argparse
from typing import Any

from signalstack.plugin import defaults

STRATEGY_FLAGS = ("line", "buy_threshold", "sell_threshold", "allow_short", "sizing", "stake", "vol_target",
                  "periods_per_year", "stop_loss", "take_profit", "hold", "min_margin")
"""The `SignalStrategy` settings the flags below set, by their keyword names."""


def add_trading_flags(p: argparse.ArgumentParser) -> None:
    """SignalStrategy's flags and the broker's costs, named and defaulted once for every trading command."""
    p.add_argument("--line", default="p_up", choices=("p_up", "forecast", "score"),
                   help="indicator line the thresholds apply to (forecast for a regression model)")
    p.add_argument("--buy-threshold", type=float, default=defaults.BUY_THRESHOLD,
                   help=f"go long above this (default {defaults.BUY_THRESHOLD})")
    p.add_argument("--sell-threshold", type=float, default=defaults.SELL_THRESHOLD,
                   help=f"exit (or go short) below this (default {defaults.SELL_THRESHOLD})")
    p.add_argument("--allow-short", action="store_true", help="go short below --sell-threshold (default: only exit)")
    p.add_argument("--sizing", choices=("percent", "fixed", "volatility"), default="percent",
                   help="percent: --stake of equity; fixed: --stake units; volatility: --vol-target, at most --stake")
    p.add_argument("--stake", type=float, default=defaults.STAKE,
                   help=f"fraction of equity per position (units with fixed; default {defaults.STAKE})")
    p.add_argument("--vol-target", type=float, default=defaults.VOL_TARGET,
                   help=f"annualised volatility to size for (default {defaults.VOL_TARGET})")
    p.add_argument("--periods-per-year", type=float, metavar="N",
                   help="bars per year that annualise Sharpe, Sortino and volatility sizing (default: inferred "
                   "from the bar times)")
    p.add_argument("--stop-loss", type=float, help="exit when a close is this fraction against the entry")
    p.add_argument("--take-profit", type=float, help="exit when a close is this fraction beyond the entry")
    p.add_argument("--hold", default="0", help="bars to hold each position, or 'horizon' for the model's (default 0)")
    p.add_argument("--min-margin", type=float, default=0.0, help="ignore bars with |p_up - p_down| below this")
    p.add_argument("--cash", type=float, default=defaults.CASH,
                   help=f"starting cash of each symbol's account (default {defaults.CASH:g})")
    p.add_argument("--commission", type=float, default=defaults.COMMISSION,
                   help=f"fraction of traded value (default {defaults.COMMISSION})")
    p.add_argument("--slippage", type=float, default=defaults.SLIPPAGE,
                   help=f"fraction of price, against the order (default {defaults.SLIPPAGE})")


def strategy_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The `SignalStrategy` keywords of the flags (`--hold` as bars, or 'horizon')."""
    settings = {name: getattr(args, name) for name in STRATEGY_FLAGS}
    settings["hold"] = args.hold if args.hold == "horizon" else int(args.hold)
    return settings
