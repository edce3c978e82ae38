"""Start and resume paper runs: `SignalStrategy` on live feeds, Backtrader's simulated broker, a journal.

A paper run is a backtest that cannot look ahead and cannot be lost: the same strategy, costs and
next-bar-open fills as `run_backtest`, fed bar by bar by live feeds, with every step journaled
before it is taken. Its configuration is the journal's first event, so `resume_paper` needs the
journal alone.

Each run gets an id of its own, at random, so two runs of the same settings never share order ids;
within a run the ids derive from it and the bar, so a resumed run re-derives the ids it journaled.
One process writes a journal at a time (its lease, `paper.lease`): a second `run` or `resume` on it is
refused while the first lives, and a `resume` takes over from one that died. Before a run journals
anything its feeds are checked (`paper.preflight`): bars there, a start within them, history enough
for the model; before a resume, files unchanged. What a session returns is read from the journal
once it is closed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from signalstack import __version__
from signalstack.core.errors import InvalidInput, NotFound, SettingsError
from signalstack.plugin.backtest import configure_broker
from signalstack.plugin.sources import OnnxSource, SignalSource
from signalstack.transport.security import ClientSecurity, ClientTls

from .broker_state import SymbolState, checkpoint
from .config import PaperConfig
from .events import Resume, RunConfig, RunFeed, Stop
from .feed_kinds import make_feed
from .feeds import FeedSpec, parse_feed
from .journal import Journal, JournalError, Listener
from .kill_switch import stop_file
from .notify import Notifier
from .portfolio import portfolio_cerebro, portfolio_checkpoint, ranking_of
from .preflight import check_feeds, check_unchanged, feed_zone
from .progress import Progress
from .risk import open_book
from .signals import StreamSource, journaled_signals
from .status import RunStatus, equity_frame, fills_frame, read_status, shown, trades_frame
from .strategy import Controller, PaperStrategy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperResult:
    """How a session of a paper run ended and where the run stands."""

    journal: Path
    stopped: str
    """Why this session ended: feeds ended, kill switch, SIGTERM, SIGINT."""
    status: RunStatus
    """`read_status` of the journal after the session."""
    fills: pd.DataFrame
    """Every fill of the run so far (all sessions), from the journal: a backtest's fill columns plus order_id."""
    trades: pd.DataFrame
    """Every round trip of the run so far (all sessions), from the journal, as a backtest's trades frame."""
    equity: pd.DataFrame
    """Each feed's account after each of its live bars (all sessions), from the journal."""


def run_paper(
    config: PaperConfig, journal_path: str | Path, *, max_pages: int | None = None, listeners: Sequence[Listener] = ()
) -> PaperResult:
    """Start a paper run journaled at `journal_path` (a new file) and trade until the feeds end, the
    kill switch is set, SIGTERM or Ctrl-C comes. `max_pages` caps the journal's size (tests of a full disk);
    `listeners` are called with every event the run journals (`Journal.listen`: notifications), besides the
    log lines of `progress.Progress`.

    Raises InvalidInput before journaling anything when a feed cannot trade as asked (`preflight`), and
    `lease.LeaseHeld` when another process writes the journal."""
    specs = [parse_feed(text) for text in config.feeds]
    symbols = [spec.symbol for spec in specs]
    if len(set(symbols)) < len(symbols):
        raise SettingsError(f"feeds trade symbols {symbols}: expected distinct symbols (name them SYMBOL=replay:...)")
    source, described = _open_source(config)
    with _opened(source):
        check_feeds(specs, source.bars_required, config.allow_cold_start, ranked=config.ranking.top_k is not None)
        run = RunConfig(
            run_id=secrets.token_hex(6),
            **described,
            feeds=tuple(RunFeed(spec.canonical(), spec.symbol, spec.pace, feed_zone(spec)) for spec in specs),
            cash=config.trading.cash,
            commission=config.trading.commission,
            slippage=config.trading.slippage,
            strategy=dict(sorted(config.trading.strategy_keywords().items())),
            risk=config.risk.to_dict(),
            signalstack=__version__,
            max_stale=config.stale.max_stale,
            on_stale=config.stale.on_stale,
            allow_cold_start=config.allow_cold_start,
            ranking=ranking_of(config, source, specs),
        )
        with _writing(journal_path, max_pages) as journal, Notifier(config.notify, journal, run.run_id):
            if journal.counts()["config"]:
                raise SettingsError(
                    f"journal {journal.path} already holds run {journal.config().run_id}: continue "
                    f"it with `signalstack paper resume --journal {journal.path}`, or give a new "
                    "--journal"
                )
            _listen(journal, run, listeners)
            journal.append(run, "config")
            log.info("paper run %s: %s on %s, journal %s", run.run_id, source.name, ", ".join(symbols), journal.path)
            return _result(journal, _trade(journal, run, source, specs, {}))


def resume_paper(
    journal_path: str | Path,
    *,
    token: str | None = None,
    notify: Sequence[str] = (),
    listeners: Sequence[Listener] = (),
) -> PaperResult:
    """Continue the run journaled at `journal_path` from its journal alone: its configuration, the
    account and pending orders at its last finished bar, the bars it had seen as history; `token`:
    the server's bearer token, for a run that used one, and `notify`: the webhook URLs (the secrets the
    journal does not keep); `listeners` as for `run_paper`. A run whose process died (its lease free) is
    taken over; one still running is refused (`lease.LeaseHeld`), and so is a feed file changed since the run read it
    (`preflight.check_unchanged`), before anything is journaled."""
    path = Path(journal_path)
    if not path.is_file():
        raise NotFound(f"journal {path}: no such file (expected the --journal of a `paper run`)")
    with _writing(path) as journal:
        run = journal.config()
        notifier = Notifier(notify, journal, run.run_id)  # its URLs checked before the source is reached
        specs = [parse_feed(feed.spec) for feed in run.feeds]
        states = (checkpoint if run.ranking is None else portfolio_checkpoint)(journal)
        for spec in specs:
            if spec.symbol in states:
                check_unchanged(spec, states[spec.symbol])
        source = _reopen_source(run, token)
        _listen(journal, run, listeners)
        with notifier, _opened(source):  # the notifier listening before the resume is journaled, to announce it
            journal.append(
                Resume(
                    {s: None if state.through is None else state.through.isoformat() for s, state in states.items()}
                ),
                f"resume:{journal.counts()['resume'] + 1}",
            )
            log.info(
                "paper run %s resumed after %s",
                run.run_id,
                ", ".join(
                    f"{s} {shown(None if state.through is None else state.through.isoformat(), run.zones.get(s))}"
                    for s, state in states.items()
                )
                or "no bar",
            )
            return _result(journal, _trade(journal, run, source, specs, states))


@contextmanager
def _writing(path: str | Path, max_pages: int | None = None) -> Iterator[Journal]:
    """The journal opened for one session of a run, its lease held until it closes. The kill switch's file
    goes with the session: a stop it did not honour is not left for the next one. It is removed after the
    lease is let go, so that a `paper stop` racing the end either sees the run gone or has its file removed."""
    journal = Journal(path, max_pages=max_pages)
    try:
        with journal:
            yield journal
    finally:
        stop_file(journal.path).unlink(missing_ok=True)


def _listen(journal: Journal, run: RunConfig, listeners: Sequence[Listener]) -> None:
    """Subscribe the run's log lines (`Progress`) and `listeners` to every event the session journals."""
    for listener in (Progress(run), *listeners):
        journal.listen(listener)


def _result(journal: Journal, stopped: str) -> PaperResult:
    """The session's end as its journal says it, read as any reader would once the session has ended: the
    final word is the journal's, every event of the session (a flattening's last fill included) in."""
    journal.end_session()
    with Journal(journal.path, readonly=True) as read:
        return PaperResult(
            journal=journal.path,
            stopped=stopped,
            status=read_status(journal.path),
            fills=fills_frame(read),
            trades=trades_frame(read),
            equity=equity_frame(read),
        )


LIVE_THREADS = 1
"""onnxruntime's intra-op threads for an in-process paper run: each feed scores one bar per call, in a thread of
its own, where one thread per call beats a pool (measured in bench/paper.py)."""


def _open_source(config: PaperConfig) -> tuple[SignalSource, dict[str, Any]]:
    """The run's signal source, and what the journal's config says of it (`RunConfig` fields): enough for
    `_reopen_source` (with the token given again: the journal says only whether there was one)."""
    security = config.security
    if config.server is not None:
        security = security.model_copy(
            update={
                key: path.resolve() for key in ClientTls.model_fields if (path := getattr(security, key)) is not None
            }
        )
        served = StreamSource(config.server, str(config.model), timeout=config.signal_timeout, security=security)
        return served, {
            "model": served.model,
            "server": served.target,
            "signal_timeout": served.timeout,
            "model_name": served.name,
            "model_version": served.version,
            **security.to_dict(),
        }
    given = [key for key, value in security.to_dict().items() if value]
    if given:
        raise SettingsError(f"{', '.join(given)}: apply to signals from a server only (expected a server with them)")
    model = Path(config.model).resolve()
    source = OnnxSource(model, threads=LIVE_THREADS)
    return source, {
        "model": str(model),
        "model_sha256": _sha256(model),
        "model_name": source.name,
        "model_version": source.model.version,
    }


def _reopen_source(run: RunConfig, token: str | None) -> SignalSource:
    """The source of a journaled run: the same server and model name (its newest version now), reached with
    the same TLS files and `token` when the run used one; or the same model file, unchanged."""
    if run.server:
        if run.token and token is None:
            raise SettingsError(
                f"run {run.run_id} reached {run.server} with a bearer token, which the journal does "
                "not keep: expected it again (--token, or $SIGNALSTACK_TOKEN)"
            )
        security = ClientSecurity(
            token=token if run.token else None, **{key: getattr(run, key) for key in ClientTls.model_fields}
        )
        return StreamSource(run.server, run.model, timeout=run.signal_timeout, security=security)
    return OnnxSource(model_file(run), threads=LIVE_THREADS)


def model_file(run: RunConfig) -> Path:
    """The model file a run scored in process, checked unchanged since the run began (by its sha256)."""
    model = Path(run.model)
    if not model.is_file() or _sha256(model) != run.model_sha256:
        raise InvalidInput(
            f"model {model}: {'changed' if model.is_file() else 'missing'} since run "
            f"{run.run_id} began (expected the file with sha256 {run.model_sha256})"
        )
    return model


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


def _trade(
    journal: Journal, run: RunConfig, source: SignalSource, specs: Sequence[FeedSpec], states: Mapping[str, SymbolState]
) -> str:
    """Trade every feed in its own Cerebro and account, each in a thread (a --top-k run: all feeds in one), until
    all have stopped; why they stopped, journaled."""
    controller = Controller(
        journal,
        run.run_id,
        run.model_name,
        run.model_version,
        risk=open_book(run, journal),
        allow_cold_start=run.allow_cold_start,
        max_stale=run.max_stale,
        flatten_stale=run.on_stale == "flatten",
    )
    sources = {spec.symbol: _feed_source(source, spec.symbol, journal, states.get(spec.symbol)) for spec in specs}
    if run.ranking is not None:  # --top-k: every feed in one Cerebro and one account (paper.portfolio)
        cerebros = [portfolio_cerebro(run, sources, specs, journal, controller, states)]
    else:
        cerebros = [
            _cerebro(run, sources[spec.symbol], spec, journal, controller, states.get(spec.symbol)) for spec in specs
        ]
    try:
        with _signals_stop(cerebros, controller):
            _run_all(cerebros)
    except Exception as exc:
        with suppress(JournalError):  # the journal itself may be what failed
            journal.append(Stop("error", error=" ".join(str(exc).split())), f"stop:{journal.counts()['stop'] + 1}")
        raise
    stop = controller.stop or Stop("feeds ended")
    if stop.reason != "kill switch":  # the kill switch's stop was journaled when it was read
        journal.append(stop, f"stop:{journal.counts()['stop'] + 1}")
    log.info("paper run %s stopped: %s", run.run_id, stop.reason)
    return stop.reason


def _cerebro(
    run: RunConfig,
    source: SignalSource,
    spec: FeedSpec,
    journal: Journal,
    controller: Controller,
    state: SymbolState | None,
) -> bt.Cerebro:
    """One feed's Cerebro: the live feed, the broker exactly as `run_backtest` sets it up (so that a paper
    run fills as a backtest does), and the journaling strategy."""
    cerebro = bt.Cerebro(stdstats=False)  # a live feed puts Cerebro in bar-by-bar mode
    configure_broker(cerebro.broker, run.cash, run.commission, run.slippage)
    feed = make_feed(spec, journal, state, stopping=controller.stop_requested)  # a waiting feed ends on a stop
    cerebro.adddata(feed, name=spec.symbol)
    cerebro.addstrategy(
        PaperStrategy,
        source=source,
        start=spec.start,
        controller=controller,
        restore=state,
        zone=run.zones.get(spec.symbol),
        **run.strategy,
    )
    return cerebro


def _run_all(cerebros: Sequence[bt.Cerebro]) -> None:
    """Run the Cerebros side by side (live feeds wait on their own clocks); the first error stops them all
    and is raised once they have stopped."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            cerebros[i].run()
        except BaseException as exc:
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


@contextmanager
def _signals_stop(cerebros: Sequence[bt.Cerebro], controller: Controller) -> Iterator[None]:
    """SIGTERM and Ctrl-C (SIGINT) end the run cleanly: each Cerebro stops after the bar in hand, the stop is
    journaled and the journal closed. A second Ctrl-C exits at once (KeyboardInterrupt: no stop journaled,
    so the run reads as crashed and resumes as one)."""

    def stop(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGINT and controller.stop is not None and controller.stop.reason == name:
            raise KeyboardInterrupt
        controller.stop = Stop(name)
        log.warning(
            "%s: stopping after the bar in hand%s",
            name,
            " (Ctrl-C again to exit at once)" if signum == signal.SIGINT else "",
        )
        for cerebro in cerebros:
            cerebro.runstop()

    try:
        previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: the signals keep their handlers
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["PaperConfig", "PaperResult", "model_file", "resume_paper", "run_paper"]
