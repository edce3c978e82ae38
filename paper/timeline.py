"""A paper run's history as a desk reads it, from its journal: the sessions (its start and each resume, and how
each ended), the outages (runs of live bars traded without a signal), the rejected bars, the risk events and
the model versions that made its signals.

`paper report` shows it in tables and on its charts, and `paper watch` on its live page. Like `status`, it
reads the journal only, so it works on a run that is still writing it or that died.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .events import Gap, NotifyFailed, Rejected, RiskBreach, Signal
from .journal import Event, Journal

CRASHED = "crashed: no stop journaled before the next resume"
UNFINISHED = "no stop journaled: still running, or crashed"


@dataclass(frozen=True)
class Session:
    """A stretch of the run in one process: the run's start or a resume, until it stopped (or died)."""

    number: int
    began: float
    """Wall-clock seconds (Unix) of its start or resume event."""
    resumed: bool
    first_bar: str | None
    """The first live bar it finished; None: none."""
    last_bar: str | None
    bars: int
    """Live bars it finished, over all symbols."""
    ended: str
    """The stop's reason (`CRASHED`, `UNFINISHED` without one)."""
    ended_at: float | None
    """Wall-clock seconds of its stop event; None without one."""


@dataclass(frozen=True)
class Outage:
    """Consecutive live bars of a symbol traded without a signal (stale-signal gaps), and why."""

    symbol: str
    first: str
    last: str
    bars: int
    why: dict[str, int]
    """The gaps' reasons counted."""


@dataclass(frozen=True)
class VersionUse:
    """Consecutive signals of a symbol made by one version of the model."""

    symbol: str
    model: str
    version: int
    first: str
    last: str
    bars: int


@dataclass(frozen=True)
class Timeline:
    """What `read_timeline` gives: see the module."""

    sessions: list[Session]
    outages: list[Outage]
    rejected: list[Event[Rejected]]
    risk_events: list[Event[RiskBreach]]
    versions: list[VersionUse]
    notify_failed: list[Event[NotifyFailed]]

    def gap_bars(self) -> int:
        """Live bars traded without a signal."""
        return sum(outage.bars for outage in self.outages)


def read_timeline(journal: Journal) -> Timeline:
    """The run's `Timeline` from `journal` (opened read-only by the caller)."""
    events = journal.events(
        ("config", "resume", "stop", "snapshot", "signal", "gap", "rejected", "risk", "notify_failed")
    )
    return Timeline(
        sessions=_sessions(events),
        outages=_outages(events),
        rejected=[e for e in events if e.kind == "rejected"],
        risk_events=[e for e in events if e.kind == "risk"],
        versions=_versions(events),
        notify_failed=[e for e in events if e.kind == "notify_failed"],
    )


@dataclass
class _Open:
    """The session being read: its start and the live bars it has finished so far."""

    began: float
    resumed: bool
    first: str | None = None
    last: str | None = None
    bars: int = 0

    def closed(self, number: int, ended: str, at: float | None) -> Session:
        return Session(number, self.began, self.resumed, self.first, self.last, self.bars, ended, at)


def _sessions(events: list[Event]) -> list[Session]:
    sessions: list[Session] = []
    current: _Open | None = None
    for event in events:
        if event.kind in ("config", "resume"):
            if current is not None:
                sessions.append(current.closed(len(sessions) + 1, CRASHED, None))
            current = _Open(event.at, event.kind == "resume")
        elif current is None:
            continue
        elif event.kind == "snapshot":
            current.first = current.first or event.time
            current.last = max(current.last or event.time, event.time)
            current.bars += 1
        elif event.kind == "stop":
            stop = event.payload
            sessions.append(
                current.closed(
                    len(sessions) + 1,
                    stop.reason
                    + (" (closing positions first)" if stop.flatten else "")
                    + (f": {stop.error}" if stop.error else ""),
                    event.at,
                )
            )
            current = None
    if current is not None:
        sessions.append(current.closed(len(sessions) + 1, UNFINISHED, None))
    return sessions


def _outages(events: list[Event]) -> list[Outage]:
    """Runs of gap events per symbol, each ended by the symbol's next signal."""
    open_: dict[str, list[Event[Gap]]] = {}
    done: list[tuple[int, Outage]] = []

    def close(symbol: str) -> None:
        gaps = open_.pop(symbol)
        done.append(
            (
                gaps[0].seq,
                Outage(
                    symbol,
                    gaps[0].time,
                    gaps[-1].time,
                    len(gaps),
                    dict(sorted(Counter(g.payload.why for g in gaps).items())),
                ),
            )
        )

    for event in events:
        if event.kind == "gap":
            open_.setdefault(event.symbol, []).append(event)
        elif event.kind == "signal" and event.symbol in open_:
            close(event.symbol)
    for symbol in list(open_):
        close(symbol)
    return [outage for _, outage in sorted(done, key=lambda pair: pair[0])]


def _versions(events: list[Event]) -> list[VersionUse]:
    """Runs of signals per symbol by the same model and version."""
    runs: dict[str, list[Event[Signal]]] = {}
    done: list[tuple[int, VersionUse]] = []

    def close(symbol: str) -> None:
        signals = runs.pop(symbol)
        first = signals[0]
        done.append(
            (
                first.seq,
                VersionUse(
                    symbol, first.payload.model, first.payload.version, first.time, signals[-1].time, len(signals)
                ),
            )
        )

    for event in events:
        if event.kind != "signal":
            continue
        run = runs.get(event.symbol)
        if run and (run[-1].payload.model, run[-1].payload.version) != (event.payload.model, event.payload.version):
            close(event.symbol)
        runs.setdefault(event.symbol, []).append(event)
    for symbol in list(runs):
        close(symbol)
    return [use for _, use in sorted(done, key=lambda pair: pair[0])]


__all__ = ["CRASHED", "UNFINISHED", "Outage", "Session", "Timeline", "VersionUse", "read_timeline"]
