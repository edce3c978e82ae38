"""The trading defaults of backtests and strategies, written once: the library, the CLI and reports read them here.

Importing this module loads nothing else, so the command line can show them in `--help`
without loading Backtrader.
"""

from __future__ import annotations

BUY_THRESHOLD = 0.55
"""Go long when the signal line (p_up by default) rises above this."""

SELL_THRESHOLD = 0.45
"""Leave a long (or go short, where allowed) when the signal line falls below this."""

STAKE = 0.95
"""Fraction of equity per position (units with fixed sizing; the cap with volatility sizing)."""

VOL_TARGET = 0.15
"""Annualised volatility a position is sized for with volatility sizing."""

CASH = 100_000.0
"""Starting cash of a backtest."""

COMMISSION = 0.001
"""Commission, as a fraction of traded value."""

SLIPPAGE = 0.0005
"""Slippage, as a fraction of price, against the order."""

SWEEP_WORKERS = 2
"""Processes a parameter sweep runs its backtests in."""
