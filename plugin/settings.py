"""The trading settings, declared once: `backtest`, `paper` and research runs take the same object, and the CLI's
flags, the YAML keys and the JSON Schema are made from these fields.

Importing this module loads neither Backtrader nor onnxruntime, so `--help` can show the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from signalstack.core.settings import Settings

from . import defaults

Line = Literal["p_up", "forecast", "score"]
Sizing = Literal["percent", "fixed", "volatility"]


class TradingSettings(Settings):
    """How a model's signals are traded (`SignalStrategy`) and what the broker charges.

    `strategy_keywords()` are the `SignalStrategy` parameters; `cash`, `commission` and `slippage` set up the
    broker. A regression model trades its forecast line: `line="forecast"` with thresholds around 0.
    """

    line: Line = "p_up"
    """Indicator line the thresholds apply to: p_up, or forecast for a regression model, score for a ranker."""
    buy_threshold: float = defaults.BUY_THRESHOLD
    """Go long when the line is at or above this."""
    sell_threshold: float = defaults.SELL_THRESHOLD
    """Exit (or go short, with allow_short) when the line is at or below this."""
    allow_short: bool = False
    """Go short below sell_threshold instead of only exiting."""
    sizing: Sizing = "percent"
    """percent: stake of equity; fixed: stake units; volatility: vol_target over realised volatility, at most stake."""
    stake: float = Field(defaults.STAKE, gt=0)
    """Fraction of equity per position (units with fixed sizing; the cap with volatility sizing)."""
    vol_target: float = Field(defaults.VOL_TARGET, gt=0)
    """Annualised volatility a position is sized for with volatility sizing."""
    vol_window: int = Field(20, ge=2)
    """Close-to-close returns whose standard deviation is the realised volatility of volatility sizing."""
    periods_per_year: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Bars per year that annualise Sharpe, Sortino and volatility sizing (default: counted on the bars' clock)."""
    stop_loss: float | None = Field(None, gt=0)
    """Exit when a close is this fraction of the entry price against the position."""
    take_profit: float | None = Field(None, gt=0)
    """Exit when a close is this fraction of the entry price beyond it."""
    hold: Annotated[int, Field(ge=0)] | Literal["horizon"] = 0
    """Bars to hold each position whatever the signal says, or horizon for the model's label horizon."""
    min_margin: float = Field(0.0, ge=0, le=1)
    """Ignore bars whose |p_up - p_down| is below this."""
    cash: float = Field(defaults.CASH, gt=0, allow_inf_nan=False)
    """Starting cash of each symbol's account."""
    commission: float = Field(defaults.COMMISSION, ge=0)
    """Commission, a fraction of traded value."""
    slippage: float = Field(defaults.SLIPPAGE, ge=0)
    """Slippage, a fraction of price against every fill (the next bar's open included)."""

    @model_validator(mode="after")
    def _consistent(self) -> TradingSettings:
        if not self.sell_threshold <= self.buy_threshold:
            raise ValueError(
                f"thresholds sell {self.sell_threshold} / buy {self.buy_threshold}: "
                "expected sell_threshold <= buy_threshold"
            )
        if self.line.startswith("p_") and not 0.0 <= self.sell_threshold <= self.buy_threshold <= 1.0:
            raise ValueError(
                f"thresholds sell {self.sell_threshold} / buy {self.buy_threshold} on {self.line}: "
                "expected 0 <= sell_threshold <= buy_threshold <= 1"
            )
        if self.sizing != "fixed" and not self.stake <= 1.0:
            raise ValueError(f"stake {self.stake} with {self.sizing} sizing: expected a fraction of equity in (0, 1]")
        return self

    def strategy_keywords(self) -> dict[str, Any]:
        """The `SignalStrategy` parameters of these settings (everything but the broker's cash and costs)."""
        return self.model_dump(include=set(STRATEGY_FIELDS))


STRATEGY_FIELDS = tuple(name for name in TradingSettings.model_fields if name not in ("cash", "commission", "slippage"))
"""The fields that are `SignalStrategy` parameters; the others (cash and costs) set up the broker."""
