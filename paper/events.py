"""What a paper run's journal records: one frozen dataclass per kind of event, written and read back as one.

A journal row holds an event's kind, natural key, symbol and bar time beside its payload: one of these
classes as canonical JSON (`Payload.encode`, `Payload.decode`; keys are the fields' names). A journal
keeps the `SCHEMA` it was created with, also when resumed, so a reader knows what to expect: schema 1
(signalstack 0.2.0) has no `trade` events and no open trade in its snapshots; schema 2 has no `stale`,
`notify_failed` or `portfolio` events and its config no stale-signal policy, cold-start permission, bar zones or
`--top-k` ranking (`RunConfig.ranking`). A later kind or field comes with a new schema number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

SCHEMA = 3
"""The journal layout this code writes; it reads every one up to it."""

KINDS: dict[str, type[Payload]] = {}
"""Every kind of event by its name (`Payload.KIND`)."""


@dataclass(frozen=True)
class Payload:
    """An event's payload: a subclass per kind, declared `class Fill(Payload, kind="fill")`."""

    KIND: ClassVar[str]

    def __init_subclass__(cls, kind: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.KIND = kind
        KINDS[kind] = cls

    def encode(self) -> dict[str, Any]:
        """The payload as JSON values (tuples are written as lists)."""
        return vars(self)

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        """The payload `encode` gave `doc`."""
        return cls(**doc)


@dataclass(frozen=True)
class RunFeed:
    """One feed of a run: its canonical spec (what `paper resume` parses again), symbol and pace."""

    spec: str
    symbol: str
    pace: float
    zone: str | None = None
    """The UTC offset its bars were written with (`-04:00`), read from the file's first row; None: UTC."""


@dataclass(frozen=True)
class Ranking:
    """How a `--top-k` run trades its feeds as one account (`paper.portfolio`): `RankingStrategy` holding the
    `top_k` best-scored symbols by `line`, rebalanced every `rebalance` steps of the clock, each step's round
    of bars waiting up to `bar_wait` seconds for a symbol's late bar."""

    top_k: int
    rebalance: int
    line: str
    bar_wait: float


@dataclass(frozen=True)
class RunConfig(Payload, kind="config"):
    """The run's configuration, its first event: all `paper resume` needs besides a server's token."""

    run_id: str
    model: str
    """The model file's absolute path; with `server`, the served model's name."""
    model_name: str
    model_version: int
    feeds: tuple[RunFeed, ...]
    cash: float
    commission: float
    slippage: float
    strategy: dict[str, Any]
    """`SignalStrategy` parameters."""
    risk: dict[str, float | None]
    """`RiskLimits.as_dict`."""
    signalstack: str
    """The version that started the run."""
    model_sha256: str | None = None
    server: str | None = None
    signal_timeout: float | None = None
    token: bool = False
    """Whether the server was reached with a bearer token (never the token itself)."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_stale: int | None = None
    """Live bars in a row without a fresh signal after which a symbol's `on_stale` policy acts (None: never)."""
    on_stale: str = "hold"
    """What a symbol stale for `max_stale` bars does: "hold" its position or "flatten" it."""
    allow_cold_start: bool = False
    """Whether the run may trade with less warm-up history than the model needs (its first bars get no signal)."""
    ranking: Ranking | None = None
    """A `--top-k` run's ranking, its feeds traded in one account; None: an account per feed."""

    @property
    def symbols(self) -> list[str]:
        return [feed.symbol for feed in self.feeds]

    @property
    def zones(self) -> dict[str, str | None]:
        """{symbol: the UTC offset its bars were written with, None for UTC}."""
        return {feed.symbol: feed.zone for feed in self.feeds}

    def encode(self) -> dict[str, Any]:
        doc = {**vars(self), "feeds": [vars(feed) for feed in self.feeds]}
        del doc["ranking"]  # absent rather than null: a run of an account per feed is journaled as before
        return doc if self.ranking is None else {**doc, "ranking": vars(self.ranking)}

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        ranking = doc.get("ranking")
        return cls(
            **{
                **doc,
                "feeds": tuple(RunFeed(**feed) for feed in doc["feeds"]),
                "ranking": None if ranking is None else Ranking(**ranking),
            }
        )


@dataclass(frozen=True)
class Resume(Payload, kind="resume"):
    """A session resumed the run: each symbol's last finished bar then (None: none)."""

    through: dict[str, str | None]

    def encode(self) -> dict[str, Any]:
        return self.through

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        return cls(doc)


@dataclass(frozen=True)
class Bar(Payload, kind="bar"):
    """A bar the feed took, journaled before the strategy sees it: traded when `live`, else history."""

    row: int
    """Its line in the feed's file, or its number among a pushed symbol's arrivals."""
    live: bool
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def values(self) -> tuple[float, float, float, float, float]:
        return self.open, self.high, self.low, self.close, self.volume


@dataclass(frozen=True)
class Rejected(Payload, kind="rejected"):
    """An arrival the feed refused, and why."""

    row: int
    reason: str
    values: tuple[float, ...]

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        return cls(doc["row"], doc["reason"], tuple(doc["values"]))


@dataclass(frozen=True)
class Signal(Payload, kind="signal"):
    """A live bar's signal: the model's outputs by column (None for NaN) and the version that made it."""

    outputs: dict[str, float | None]
    model: str
    version: int

    def encode(self) -> dict[str, Any]:
        return {**self.outputs, "model": self.model, "version": self.version}

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        outputs = dict(doc)
        return cls(outputs, outputs.pop("model"), outputs.pop("version"))


@dataclass(frozen=True)
class Gap(Payload, kind="gap"):
    """A live bar traded without a signal (a served model's answer missing at its deadline), and why."""

    why: str
    model: str


@dataclass(frozen=True)
class ModelChange(Payload, kind="model"):
    """The symbol's signals come from another version of the model from this bar on."""

    model: str
    previous: int
    version: int

    def encode(self) -> dict[str, Any]:
        return {"model": self.model, "from": self.previous, "to": self.version}

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        return cls(doc["model"], doc["from"], doc["to"])


@dataclass(frozen=True)
class Stale(Payload, kind="stale"):
    """A symbol went `bars` live bars without a fresh signal (each a `gap`) and its stale-signal policy acted:
    `action` "flatten" (its position closed) or "hold" (kept); `since`: its last signal's bar time (None: none)."""

    bars: int
    action: str
    position: float
    since: str | None


@dataclass(frozen=True)
class Decision(Payload, kind="decision"):
    """The strategy decided to trade: why (signal, stop, flatten), the side, the units, from what position."""

    reason: str
    side: str
    size: float
    position: float
    line: float | None


@dataclass(frozen=True)
class RiskBreach(Payload, kind="risk"):
    """An entry broke a risk limit (`risk.Breach`) and was cut or blocked (`action`)."""

    limit: str
    value: float
    threshold: float
    action: str | None
    side: str
    size: float
    placed: float
    units: float


@dataclass(frozen=True)
class Order(Payload, kind="order"):
    """An order, journaled (and committed) before the broker gets it; `close` is the deciding bar's."""

    order_id: str
    side: str
    size: float
    type: str
    reason: str
    close: float


@dataclass(frozen=True)
class Accepted(Payload, kind="accepted"):
    """The broker accepted the order."""

    order_id: str


@dataclass(frozen=True)
class Fill(Payload, kind="fill"):
    """The order filled: signed size, price, |size| x price, commission."""

    order_id: str
    side: str
    size: float
    price: float
    value: float
    commission: float


@dataclass(frozen=True)
class Cancel(Payload, kind="cancel"):
    """The order ended unfilled, with Backtrader's status (Canceled, Margin, Rejected, Expired)."""

    order_id: str
    status: str


@dataclass(frozen=True)
class ClosedTrade(Payload, kind="trade"):
    """A round trip as Backtrader's notification closed it, in a trades frame's columns (`size`: the largest)."""

    entry_time: str
    exit_time: str
    direction: str
    size: float
    entry_price: float
    exit_price: float
    pnl: float
    commission: float
    pnl_net: float
    bars: float


@dataclass(frozen=True)
class OpenTrade:
    """Backtrader's trade open after a bar (its `baropen` as `bar`, its signed `size`, its largest as `peak`)."""

    opened: str
    bar: int
    size: float
    price: float
    commission: float
    pnl: float
    peak: float


@dataclass(frozen=True)
class Snapshot(Payload, kind="snapshot"):
    """The account after a live bar (cash, value, position size and price), the strategy's state and the
    trade still open: where a resumed run starts from."""

    cash: float
    value: float
    position: tuple[float, float]
    strategy: dict[str, int]
    trade: OpenTrade | None = None

    def encode(self) -> dict[str, Any]:
        doc = {"cash": self.cash, "value": self.value, "position": self.position, "strategy": self.strategy}
        return doc if self.trade is None else {**doc, "trade": vars(self.trade)}

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        trade = doc.get("trade")
        return cls(
            doc["cash"],
            doc["value"],
            tuple(doc["position"]),
            doc["strategy"],
            None if trade is None else OpenTrade(**trade),
        )


@dataclass(frozen=True)
class Portfolio(Payload, kind="portfolio"):
    """A `--top-k` run's one account after a step of its clock (schema 3), where a resumed run starts from: cash,
    value, each symbol's position (size, price), the symbols with a bar at that step (`ranked`), the steps
    `RankingStrategy` has counted, the orders still open and Backtrader's trade open in each symbol."""

    cash: float
    value: float
    positions: dict[str, tuple[float, float]]
    ranked: tuple[str, ...]
    steps: int
    open_orders: tuple[str, ...] = ()
    trades: dict[str, OpenTrade] = field(default_factory=dict)

    def encode(self) -> dict[str, Any]:
        return {
            **vars(self),
            "positions": {s: list(p) for s, p in self.positions.items()},
            "ranked": list(self.ranked),
            "open_orders": list(self.open_orders),
            "trades": {s: vars(t) for s, t in self.trades.items()},
        }

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Self:
        return cls(
            doc["cash"],
            doc["value"],
            {s: tuple(p) for s, p in doc["positions"].items()},
            tuple(doc["ranked"]),
            doc["steps"],
            tuple(doc["open_orders"]),
            {s: OpenTrade(**t) for s, t in doc["trades"].items()},
        )


@dataclass(frozen=True)
class Stop(Payload, kind="stop"):
    """The run stopped (or is stopping, for the kill switch): why, whether it closes its positions first,
    and what failed when `reason` is "error"."""

    reason: str
    flatten: bool = False
    error: str | None = None

    def encode(self) -> dict[str, Any]:
        return vars(self) if self.error is not None else {"reason": self.reason, "flatten": self.flatten}


@dataclass(frozen=True)
class NotifyFailed(Payload, kind="notify_failed"):
    """A notification (`signalstack.paper.notify`) that did not reach its webhook: the event it told of (its
    key), where it went (scheme, host and port only: a webhook's path is its secret), after how many attempts,
    and the last error."""

    event: str
    target: str
    attempts: int
    error: str
