"""Start and resume paper runs: `SignalStrategy` on live feeds, Backtrader's simulated broker, a journal.

A paper run is a backtest that cannot look ahead and cannot be lost: the same strategy, costs and
next-bar-open fills as `run_backtest`, fed bar by bar by live feeds, with every step journaled
before it is taken. Its configuration is the journal's first event, so `resume_paper` needs the
journal alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from signalstack import __version__
from signalstack.plugin import defaults
from signalstack.plugin.backtest import configure_broker
from signalstack.plugin.sources import OnnxSource, SignalSource
from signalstack.plugin.strategies import SignalStrategy
from signalstack.transport.security import ClientSecurity

from .broker_state import SymbolState, checkpoint
from .feed_kinds import make_feed
from .feeds import FeedSpec, parse_feed
from .journal import Journal, JournalError
from .kill_switch import stop_file
from .risk import RiskLimits, open_book
from .signals import DEFAULT_SIGNAL_TIMEOUT, StreamSource, journaled_signals
from .status import equity_frame, fills_frame, read_status
from .strategy import Controller, PaperStrategy

log = logging.getLogger(__name__)

STRATEGY_PARAMS = tuple(sorted(set(SignalStrategy.params._getkeys()) - {"source", "start", "fundamentals"}))
"""The `SignalStrategy` parameters a paper run takes (the rest come from the run: source, start)."""


@dataclass(frozen=True)
class PaperConfig:
    """Everything a paper run is started with; journaled whole as its first event."""

    model: Path | str
    """An exported ONNX model, run in process; with `server`, the name of a model that server serves."""
    feeds: Sequence[str]
    """Feed specs (`parse_feed`); each feed is traded by its own `SignalStrategy` in an account of its own
    (as each `--data` of a backtest is), all in one journal."""
    cash: float = defaults.CASH
    commission: float = defaults.COMMISSION
    slippage: float = defaults.SLIPPAGE
    strategy: Mapping[str, Any] = field(default_factory=dict)
    """`SignalStrategy` parameters (`STRATEGY_PARAMS`): thresholds, sizing, stake, line, ..."""
    risk: RiskLimits = field(default_factory=RiskLimits)
    """Position, gross exposure and daily loss limits (`signalstack.paper.risk`); none by default."""
    server: str | None = None
    """host:port of `signalstack serve`: signals then come from the newest version of `model` it serves,
    over one StreamSignals stream per symbol (`signalstack.paper.signals`); None runs the file in process."""
    signal_timeout: float = DEFAULT_SIGNAL_TIMEOUT
    """With `server`: seconds a live bar waits for its signal before it is a stale-signal gap (no entry)."""
    token: str | None = field(default=None, repr=False)
    """With `server`: the bearer token it asks for. A secret: never journaled (the journal records only
    that one was used), so `resume_paper` is given it again."""
    tls_ca: Path | None = None
    """With `server`: the PEM of the CA that signed its certificate, to connect over TLS; journaled as a path."""
    tls_cert: Path | None = None
    """With `tls_ca`: this client's certificate (PEM), for a server that verifies clients; with `tls_key`."""
    tls_key: Path | None = None
    """The private key (PEM) of `tls_cert`; journaled as a path, read again on resume."""


@dataclass(frozen=True)
class PaperResult:
    """How a session of a paper run ended and where the run stands."""

    journal: Path
    stopped: str
    """Why this session ended: feeds ended, kill switch, SIGTERM."""
    status: dict[str, Any]
    """`read_status` of the journal after the session."""
    fills: pd.DataFrame
    """Every fill of the run so far (all sessions), from the journal: a backtest's fill columns plus order_id."""
    trades: pd.DataFrame
    """Round trips of this session, as a backtest's trades frame (a trade open at a crash is only
    partly seen by the session that closes it)."""
    equity: pd.DataFrame
    """Each feed's account after each of its live bars (all sessions), from the journal."""


def run_paper(config: PaperConfig, journal_path: str | Path, *, max_pages: int | None = None) -> PaperResult:
    """Start a paper run journaled at `journal_path` (a new file) and trade until the feeds end, the
    kill switch is set or SIGTERM comes. `max_pages` caps the journal's size (tests of a full disk)."""
    if config.cash <= 0 or config.commission < 0 or config.slippage < 0:
        raise ValueError(f"cash {config.cash}, commission {config.commission}, slippage {config.slippage}: "
                         "expected cash > 0 and costs >= 0")
    unknown = sorted(set(config.strategy) - set(STRATEGY_PARAMS))
    if unknown:
        raise ValueError(f"strategy parameters {', '.join(unknown)}: expected among {', '.join(STRATEGY_PARAMS)}")
    if not config.feeds:
        raise ValueError("no feeds: expected at least one --feed")
    specs = [parse_feed(text) for text in config.feeds]
    symbols = [spec.symbol for spec in specs]
    if len(set(symbols)) < len(symbols):
        raise ValueError(f"feeds trade symbols {symbols}: expected distinct symbols (name them SYMBOL=replay:...)")
    source, described = _open_source(config)
    payload: dict[str, Any] = {
        **described,
        "feeds": [{"spec": spec.canonical(), "symbol": spec.symbol, "pace": spec.pace} for spec in specs],
        "cash": config.cash, "commission": config.commission, "slippage": config.slippage,
        "strategy": dict(sorted(config.strategy.items())), "signalstack": __version__,
        "risk": config.risk.as_dict(),
    }
    payload["run_id"] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    with _opened(source), Journal(journal_path, max_pages=max_pages) as journal:
        if journal.counts()["config"]:
            raise ValueError(f"journal {journal.path} already holds run {journal.config()['run_id']}: continue it "
                             f"with `signalstack paper resume --journal {journal.path}`, or give a new --journal")
        journal.append("config", "config", payload)
        log.info("paper run %s: %s on %s, journal %s", payload["run_id"], source.name, ", ".join(symbols),
                 journal.path)
        return _trade(journal, payload, source, specs, {})


def resume_paper(journal_path: str | Path, *, token: str | None = None) -> PaperResult:
    """Continue the run journaled at `journal_path` from its journal alone: its configuration, the
    account and pending orders at its last finished bar, the bars it had seen as history; `token`:
    the server's bearer token, for a run that used one (the one secret the journal does not keep)."""
    path = Path(journal_path)
    if not path.is_file():
        raise ValueError(f"journal {path}: no such file (expected the --journal of a `paper run`)")
    with Journal(path) as journal:
        payload = journal.config()
        source = _reopen_source(payload, token)
        specs = [parse_feed(feed["spec"]) for feed in payload["feeds"]]
        states = checkpoint(journal)
        journal.append("resume", f"resume:{journal.counts()['resume'] + 1}",
                       {s: None if state.through is None else state.through.isoformat() for s, state in states.items()})
        log.info("paper run %s resumed after %s", payload["run_id"], ", ".join(
            f"{s} {state.through or 'no finished bar'}" for s, state in states.items()) or "no bar")
        with _opened(source):
            return _trade(journal, payload, source, specs, states)


LIVE_THREADS = 1
"""onnxruntime's intra-op threads for an in-process paper run: each feed scores one bar per call, in a thread of
its own, where one thread per call beats a pool (measured in bench/paper.py)."""


_TLS = ("tls_ca", "tls_cert", "tls_key")
"""The PaperConfig fields (and journal config keys) of the TLS files a served run connects with."""


def _open_source(config: PaperConfig) -> tuple[SignalSource, dict[str, Any]]:
    """The run's signal source, and what the journal's config says of it: enough for `_reopen_source`
    (with the token given again: the journal says only whether there was one)."""
    tls = {key: None if getattr(config, key) is None else Path(getattr(config, key)).resolve() for key in _TLS}
    if config.server is not None:
        security = ClientSecurity(token=config.token, **tls)
        served = StreamSource(config.server, str(config.model), timeout=config.signal_timeout, security=security)
        return served, {"model": served.model, "server": served.target, "signal_timeout": served.timeout,
                        "model_name": served.name, "model_version": served.version,
                        "token": config.token is not None, **{k: None if v is None else str(v) for k, v in tls.items()}}
    given = [key for key, value in {"token": config.token, **tls}.items() if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: apply to signals from a server only (expected a server with them)")
    model = Path(config.model).resolve()
    source = OnnxSource(model, threads=LIVE_THREADS)
    return source, {"model": str(model), "model_sha256": _sha256(model), "model_name": source.name,
                    "model_version": source.model.version}


def _reopen_source(payload: Mapping[str, Any], token: str | None) -> SignalSource:
    """The source of a journaled run: the same server and model name (its newest version now), reached with
    the same TLS files and `token` when the run used one; or the same model file, unchanged."""
    if payload.get("server"):
        if payload.get("token") and token is None:
            raise ValueError(f"run {payload['run_id']} reached {payload['server']} with a bearer token, which the "
                             "journal does not keep: expected it again (--token, or $SIGNALSTACK_TOKEN)")
        tls = {key: None if payload.get(key) is None else Path(payload[key]) for key in _TLS}
        return StreamSource(payload["server"], payload["model"], timeout=payload["signal_timeout"],
                            security=ClientSecurity(token=token if payload.get("token") else None, **tls))
    model = Path(payload["model"])
    if not model.is_file() or _sha256(model) != payload["model_sha256"]:
        raise ValueError(f"model {model}: {'changed' if model.is_file() else 'missing'} since run "
                         f"{payload['run_id']} began (expected the file with sha256 {payload['model_sha256']})")
    return OnnxSource(model, threads=LIVE_THREADS)


def _opened(source: SignalSource) -> AbstractContextManager[Any]:
    """A context that closes `source` (a served model's streams) when it has something to close."""
    return source if isinstance(source, AbstractContextManager) else nullcontext()


def _feed_source(source: SignalSource, symbol: str, journal: Journal, state: SymbolState | None) -> SignalSource:
    """The source of one feed's strategy: a served model's scorers label their stream with the symbol, and
    on a resumed run give the bar the stop interrupted the signal journaled for it (the server may now
    answer otherwise)."""
    if not isinstance(source, StreamSource):
        return source
    return source.for_symbol(symbol, None if state is None else journaled_signals(journal, symbol, state.through))


def _trade(journal: Journal, payload: Mapping[str, Any], source: SignalSource, specs: Sequence[FeedSpec],
           states: Mapping[str, SymbolState]) -> PaperResult:
    """Trade every feed in its own Cerebro and account, each in a thread, until all have stopped."""
    controller = Controller(journal, payload["run_id"], payload["model_name"], payload["model_version"],
                            risk=open_book(payload, journal))
    cerebros = [_cerebro(payload, _feed_source(source, spec.symbol, journal, states.get(spec.symbol)), spec, journal,
                         controller, states.get(spec.symbol)) for spec in specs]
    try:
        with _sigterm_stops(cerebros, controller):
            strategies = _run_all(cerebros)
    except Exception as exc:
        with suppress(JournalError):  # the journal itself may be what failed
            journal.append("stop", f"stop:{journal.counts()['stop'] + 1}",
                           {"reason": "error", "flatten": False, "error": " ".join(str(exc).split())})
        raise
    stop = controller.stop or {"reason": "feeds ended", "flatten": False}
    if stop["reason"] == "kill switch":
        stop_file(journal.path).unlink(missing_ok=True)  # honoured; a resume trades on
    else:
        journal.append("stop", f"stop:{journal.counts()['stop'] + 1}", stop)
    log.info("paper run %s stopped: %s", payload["run_id"], stop["reason"])
    trades = pd.concat([s.trade_frame() for s in strategies], ignore_index=True)
    return PaperResult(journal=journal.path, stopped=stop["reason"], status=read_status(journal.path),
                       fills=fills_frame(journal), trades=trades, equity=equity_frame(journal))


def _cerebro(payload: Mapping[str, Any], source: SignalSource, spec: FeedSpec, journal: Journal,
             controller: Controller, state: SymbolState | None) -> bt.Cerebro:
    """One feed's Cerebro: the live feed, the broker exactly as `run_backtest` sets it up (so that a paper
    run fills as a backtest does), and the journaling strategy."""
    cerebro = bt.Cerebro(stdstats=False)  # a live feed puts Cerebro in bar-by-bar mode
    configure_broker(cerebro.broker, payload["cash"], payload["commission"], payload["slippage"])
    feed = make_feed(spec, journal, state, stopping=controller.stop_requested)  # a waiting feed ends on a stop
    cerebro.adddata(feed, name=spec.symbol)
    cerebro.addstrategy(PaperStrategy, source=source, start=spec.start, controller=controller, restore=state,
                        **payload["strategy"])
    return cerebro


def _run_all(cerebros: Sequence[bt.Cerebro]) -> list[PaperStrategy]:
    """Run the Cerebros side by side (live feeds wait on their own clocks); the first error stops them all
    and is raised once they have stopped."""
    strategies: list[PaperStrategy | None] = [None] * len(cerebros)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            strategies[i] = cerebros[i].run()[0]
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
            for cerebro in cerebros:
                cerebro.runstop()
            for data in cerebros[i].datas:  # Backtrader stops the feeds of a run that ends, not of one that died:
                data.stop()  # a grpc feed's endpoint must not outlive it (its address stays taken otherwise)

    threads = [threading.Thread(target=run, args=(i,), name=f"paper-{i}", daemon=True) for i in range(len(cerebros))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.2)  # short waits, so that the main thread handles SIGTERM promptly
    if errors:
        raise errors[0]
    return [s for s in strategies if s is not None]


@contextmanager
def _sigterm_stops(cerebros: Sequence[bt.Cerebro], controller: Controller) -> Iterator[None]:
    """SIGTERM ends the run cleanly: each Cerebro stops after the bar in hand and the journal is closed."""
    def stop(signum: int, frame: Any) -> None:
        controller.stop = {"reason": "SIGTERM", "flatten": False}
        for cerebro in cerebros:
            cerebro.runstop()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["STRATEGY_PARAMS", "PaperConfig", "PaperResult", "resume_paper", "run_paper"]
