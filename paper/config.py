"""A paper run's settings: `PaperConfig`, what `run_paper` takes, and `PaperFile`, the `paper run` flags and the
`--config paper.yaml` file they override, one key per flag (dashes or underscores; `feeds` for `--feed`):

    model: quick.onnx            # FILE.onnx, or with `server` the name of a served model
    feeds:                       # one account per feed; a single spec may be given as a string
      - SPX=replay:spx.csv?pace=0&start=2018-06-01
    journal: run.sqlite
    buy_threshold: 0.55
    max_gross: 1.0

`signalstack schema paper` prints every key with its description. The bearer token is no key: --token or
$SIGNALSTACK_TOKEN, never in a file. Relative paths are read from the directory the command runs in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from signalstack.core.settings import Settings
from signalstack.plugin.settings import TradingSettings
from signalstack.transport.security import ClientSecurity, ClientTls

from .notify import webhook_url

DEFAULT_SIGNAL_TIMEOUT = 2.0
"""Seconds a bar waits for its signal (`paper run --signal-timeout`): far above a loopback or LAN
answer (milliseconds), far below a daily or minute bar's spacing."""

Text = Annotated[str, Field(min_length=1)]


class RiskLimits(Settings):
    """What a paper run may hold; None leaves a limit off (`signalstack.paper.risk` says how each is checked)."""

    max_position: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Risk limit: a symbol's position at most this fraction of its account's equity; larger entries are cut down
    (default: no limit)."""
    max_gross: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Risk limit: the run's gross exposure, sum of |position value| / sum of equity over its accounts, at most
    this (default: no limit)."""
    daily_loss_limit: float | None = Field(None, gt=0, lt=1)
    """Risk limit: once the run's equity is this fraction below the day's start, no entry for the rest of that
    day; exits still trade (default: no limit)."""

    def active(self) -> bool:
        """Whether any limit is set."""
        return any(value is not None for value in self.model_dump().values())


class StalePolicy(Settings):
    """What a symbol does when its signals stop coming (a served model down or late): `signalstack.paper.strategy`
    counts its live bars in a row without a fresh signal."""

    max_stale: int | None = Field(None, ge=1)
    """Live bars in a row without a fresh signal (stale-signal gaps) after which --on-stale acts, once per
    outage (default: never)."""
    on_stale: Literal["hold", "flatten"] = "hold"
    """What a symbol stale for --max-stale bars does: hold its position (logged and journaled) or flatten it."""


class _Start(Settings):
    allow_cold_start: bool = False
    """Trade even when a feed has fewer bars before its start than the model needs: its first live bars then
    get no signal (refused by default, naming the bars found and needed)."""


DEFAULT_BAR_WAIT = 2.0
"""Seconds a `--top-k` run's round waits for a symbol's late bar (`paper run --bar-wait`): far above the
moment between two feeds' bars of one time, far below a daily or minute bar's spacing."""


class RankingSettings(Settings):
    """A `--top-k` run: its feeds traded as one account by `RankingStrategy` (`signalstack.paper.portfolio`)."""

    top_k: int | None = Field(None, ge=1)
    """Rank the feeds by the model's score (p_up, or --line, for a model without one) and hold the best K, equally
    weighted, in one account, exactly as `backtest --top-k` does over the same bars (default: an account per
    feed)."""
    rebalance: int | None = Field(None, ge=1)
    """With --top-k: steps of the clock (the union of the feeds' bar times) between rebalances (default: the
    model's horizon)."""
    bar_wait: float = Field(DEFAULT_BAR_WAIT, gt=0)
    """With --top-k: seconds a time's round waits, once some feed's bar for it has come, for the other feeds' bars
    before deciding without them."""


class _Source(Settings):
    model: Text | None = None
    """FILE.onnx, run in process; with --server, the NAME of a model that server serves (its newest version,
    picked up as new versions are served)."""
    server: Text | None = None
    """Take signals from `signalstack serve` at HOST:PORT: one StreamSignals stream per symbol, reconnected with
    backoff if it drops."""
    signal_timeout: float = Field(DEFAULT_SIGNAL_TIMEOUT, gt=0)
    """With --server: how long a live bar waits for its signal; a bar without one by then is a stale-signal gap,
    journaled, with no new entry (stops and exits still act)."""


class _Notify(Settings):
    notify: tuple[Annotated[str, AfterValidator(webhook_url)], ...] = ()
    """Webhook URL to POST a JSON document to on each fill, risk event, stop, start and resume (Slack, Discord
    and Teams incoming webhooks take it as it is); repeat for several. Never journaled: give it again to
    `paper resume`."""

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, urls: object) -> object:
        return (urls,) if isinstance(urls, str) else urls


class PaperConfig(_Start, _Source, _Notify):
    """Everything a paper run is started with; journaled (less the bearer token) as its first event."""

    model: str | Path
    """An exported ONNX model, run in process; with `server`, the name of a model that server serves."""
    feeds: tuple[Text, ...] = Field(min_length=1)
    """Feed specs (`parse_feed`); each feed is traded by its own `SignalStrategy` in an account of its own
    (as each `--data` of a backtest is), all in one journal."""
    trading: TradingSettings = TradingSettings()
    """The strategy's parameters, cash and costs, as a backtest takes them."""
    risk: RiskLimits = RiskLimits()
    """Position, gross exposure and daily loss limits (`signalstack.paper.risk`); none by default."""
    stale: StalePolicy = StalePolicy()
    """What a symbol does after a run of bars without a fresh signal; nothing by default."""
    security: ClientSecurity = ClientSecurity()
    """With `server`: its bearer token (never journaled: `resume_paper` is given it again) and TLS files
    (journaled as paths, read again on resume)."""
    ranking: RankingSettings = RankingSettings()
    """With `top_k`: the feeds traded as one ranked account instead of an account each."""


class _Run(_Source):
    feeds: Text | Annotated[list[Text], Field(min_length=1)] | None = None
    """--feed specs: one, or a list (see `paper run --help`), each traded in an account of its own."""
    journal: Path | None = None
    """FILE.sqlite to create (a new file)."""


class PaperFile(RankingSettings, _Start, StalePolicy, RiskLimits, TradingSettings, ClientTls, _Notify, _Run):
    """`paper run`'s settings, from its flags over a `--config` file; every key optional here (`model`, `feeds`
    and `journal` must come from one or the other)."""

    @field_validator("feeds")
    @classmethod
    def _listed(cls, feeds: str | list[str] | None) -> list[str] | None:
        return [feeds] if isinstance(feeds, str) else feeds

    def config(self, security: ClientSecurity) -> PaperConfig:
        """What `run_paper` takes: these settings, reaching the server with `security` (these TLS files and the
        bearer token, which no file holds)."""
        return PaperConfig(
            model=self.model,
            feeds=self.feeds,
            trading=self.subset(TradingSettings),
            risk=self.subset(RiskLimits),
            stale=self.subset(StalePolicy),
            server=self.server,
            signal_timeout=self.signal_timeout,
            allow_cold_start=self.allow_cold_start,
            security=security,
            notify=self.notify,
            ranking=self.subset(RankingSettings),
        )


class WatchSettings(Settings):
    """`paper watch`'s settings (`signalstack.paper.watch.WatchServer`)."""

    journal: Annotated[list[Path], Field(min_length=1)]
    """A run's FILE.sqlite to show, read-only (it may not exist yet); repeat for several runs on one page."""
    host: Text = "127.0.0.1"
    """Address to serve the page at; any other than loopback needs --token-file."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port (0: any free one)."""
    token_file: Path | None = None
    """Bearer tokens, one per line (as `signalstack serve --token-file` reads them): every request must bring one
    (Authorization: Bearer TOKEN, or ?token=TOKEN on the page's address)."""
    refresh: float = Field(1.0, gt=0)
    """Seconds between the page's updates."""


__all__ = [
    "DEFAULT_BAR_WAIT",
    "DEFAULT_SIGNAL_TIMEOUT",
    "PaperConfig",
    "PaperFile",
    "RankingSettings",
    "RiskLimits",
    "StalePolicy",
    "WatchSettings",
]
