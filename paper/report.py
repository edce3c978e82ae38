"""`paper report`: a paper run's report folder from its journal, beside a backtest of the same bars, showing
what happened to the run on the way.

`paper_results` makes, for each symbol of a run, what `run_backtest` returns (`BacktestResult`, through
the same `backtest_result`) from the journal alone: the bars the run saw, its signals, its fills, the
trades Backtrader closed (and the one still open) and its account after each live bar; and the run's
`timeline` (sessions, stale-signal outages, rejected bars, risk events, model versions).
`write_paper_report` writes them as `backtest --out` does (`plugin.report`: report.html, PNG charts,
trades.csv, stats.json, config.json; a folder per symbol and index.html for several) under a paper run's
own title, description and settings, and adds `comparison.json` and sections: the sessions, the gaps and
rejected bars with their reasons (also shaded on the charts, where no line is drawn across a bar
without a signal), the risk events, the model versions, and the run against `run_backtest` of the
journaled bars with the journaled configuration (the same model file, thresholds, sizing, costs, from
each feed's first live bar), whose equity curve the equity chart draws beside the run's.

The run "traded as its backtest" only when the fills and account values agree and no live bar lacked a
signal and no bar was rejected: a bar without a signal is one a backtest of the model would have
scored, and a rejected row one a backtest of the file would have read. Otherwise the first divergence
is named with its cause (a risk limit, a flatten, a stale-signal gap, a rejected row, a new model
version).

A run that scored through `signalstack serve` has no model file to re-run: its backtest trades the
signals the run journaled (at horizon 1 for the signal-quality figures).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalstack.core.errors import InvalidInput
from signalstack.plugin.backtest import BacktestResult, backtest_result, run_backtest
from signalstack.plugin.charts import Marks, drawdown_chart, equity_chart, price_chart
from signalstack.plugin.report import Page, Section, trading_rules, write_portfolio, write_report
from signalstack.plugin.sources import OnnxSource, PrecomputedSource

from .events import ModelChange, Order, RunConfig, Signal
from .journal import Event, Journal
from .runner import model_file
from .status import bar_frames, equity_frame, fills_frame, trades_frame
from .timeline import Timeline, read_timeline

TOLERANCE = 1e-9
"""Relative difference below which a price, size, commission or account value counts as the same."""
KIND = "Paper run"
"""What heads a paper run's report pages."""
_BACKTEST_ONLY = ("out_of_sample", "preload")
"""A backtest's params that say nothing of a paper run (it trades live bars, one at a time)."""


@dataclass(frozen=True)
class PaperReport:
    """A run's results per symbol, the backtests they are compared with, the comparison, and the run's history."""

    run: RunConfig
    live: dict[str, BacktestResult]
    backtest: dict[str, BacktestResult]
    comparison: dict[str, Any]
    """As comparison.json: run id, tolerance, `same`, and per symbol the figures of `compare` with the first
    divergence and its cause."""
    timeline: Timeline


def paper_results(journal_path: str | Path) -> PaperReport:
    """Each symbol's paper result and its backtest over the same bars, from the journal at `journal_path`."""
    with Journal(journal_path, readonly=True) as journal:
        run, signals, timeline = journal.config(), journal.events(("signal",)), read_timeline(journal)
        causes = journal.events(("order", "model"))
        bars, fills, trades, equity = (
            bar_frames(journal),
            fills_frame(journal),
            trades_frame(journal),
            equity_frame(journal),
        )
    if run.ranking is not None:
        raise InvalidInput(
            f"journal {journal_path}: a --top-k run, one account: expected "
            "paper.portfolio_report for it (`paper report` picks it)"
        )
    traded = [symbol for symbol in run.symbols if (equity["symbol"] == symbol).any()]
    if not traded:
        raise InvalidInput(
            f"journal {journal_path}: no symbol has a finished live bar yet (expected a run that traded "
            "at least one bar)"
        )
    source = None if run.server else OnnxSource(model_file(run))  # a served run's backtest replays its signals
    risks = Counter(e.symbol for e in timeline.risk_events)
    live, backtest, compared = {}, {}, {}
    for symbol in traded:
        curve = equity.loc[equity["symbol"] == symbol]
        start = curve["time"].iloc[0]
        outputs = _signals(signals, symbol, None if source is None else source.columns)
        backtest[symbol] = run_backtest(
            source if source is not None else _replayed(outputs),
            bars[symbol],
            start=start,
            symbol=symbol,
            cash=run.cash,
            commission=run.commission,
            slippage=run.slippage,
            **run.strategy,
        )
        params = {k: v for k, v in backtest[symbol].params.items() if k not in _BACKTEST_ONLY}
        live[symbol] = backtest_result(
            {**params, "run_id": run.run_id},
            bars[symbol],
            pd.Series(curve["value"].to_numpy(), index=pd.DatetimeIndex(curve["time"]), name="strategy"),
            _of(trades, symbol),
            _of(fills, symbol).drop(columns="order_id"),
            outputs.reindex(
                index=bars[symbol].index[bars[symbol].index >= start],  # NaN, not a line, where none came
                columns=backtest[symbol].probabilities.columns,
            ),
        )  # the model's outputs, signals or not
        compared[symbol] = _diverged(compare(live[symbol], backtest[symbol]), symbol, timeline, causes) | {
            "risk_events": risks.get(symbol, 0)
        }
    comparison = {
        "run_id": run.run_id,
        "tolerance": TOLERANCE,
        "same": all(c["same"] for c in compared.values()) and not timeline.rejected,
        "symbols": compared,
    }
    return PaperReport(run=run, live=live, backtest=backtest, comparison=comparison, timeline=timeline)


def write_paper_report(journal_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's report folder (as `backtest --out` does, under a paper run's title) and comparison.json
    into `out_dir`; return the paths, the page first."""
    report = paper_results(journal_path)
    out = Path(out_dir)
    if len(report.live) > 1:
        pages = {symbol: _symbol_page(report, symbol, _sections(report, symbol)) for symbol in report.live}
        paths = write_portfolio(report.live, out, Page(KIND, _run_lines(report), sections=_sections(report)), pages)
    else:
        symbol = next(iter(report.live))
        paths = write_report(report.live[symbol], out, _symbol_page(report, symbol, _sections(report)))
    paths.append(out / "comparison.json")
    paths[-1].write_text(json.dumps(report.comparison, indent=2, default=str) + "\n")
    return paths


def compare(live: BacktestResult, backtest: BacktestResult) -> dict[str, Any]:
    """The run against its backtest: fills and closed trades counted, total returns, the largest gap
    between the equity curves, the first fill or account value that differs (None: none), `same`."""
    divergence = _first_fill_difference(live.fills, backtest.fills)
    curves = pd.concat({"live": live.equity["strategy"], "backtest": backtest.equity["strategy"]}, axis=1)
    gap = (curves["live"] - curves["backtest"]).abs()
    worst = float(gap.max()) if gap.notna().any() else None  # None: the curves share no bar
    if divergence is None:
        off = curves.index[curves.isna().any(axis=1) | (gap > TOLERANCE * curves["backtest"].abs())]
        if len(off):
            at = off[0]
            divergence = {
                "what": "equity",
                "time": at.isoformat(),
                "live": _value(curves.at[at, "live"]),
                "backtest": _value(curves.at[at, "backtest"]),
            }
    return {
        "fills": {"live": len(live.fills), "backtest": len(backtest.fills)},
        "trades": {"live": int(live.stats["trades"]), "backtest": int(backtest.stats["trades"])},
        "total_return": {"live": float(live.stats["total_return"]), "backtest": float(backtest.stats["total_return"])},
        "max_abs_equity_difference": worst,
        "first_divergence": divergence,
        "same": divergence is None,
    }


def _diverged(
    compared: dict[str, Any], symbol: str, timeline: Timeline, causes: Sequence[Event[Order] | Event[ModelChange]]
) -> dict[str, Any]:
    """`compared` with the symbol's gaps and rejected bars counted, the first divergence being the earliest of
    the first differing fill or account value, the first bar without a signal and the first rejected bar,
    with its cause; `same` only when there is none."""
    outages = [o for o in timeline.outages if o.symbol == symbol]
    rejected = [e for e in timeline.rejected if e.symbol == symbol]
    found = []
    if compared["first_divergence"] is not None:
        first = compared["first_divergence"]
        found.append({**first, "cause": _cause(symbol, pd.Timestamp(first["time"]), timeline, causes)})
    if outages:
        o = outages[0]
        found.append(
            {
                "what": "stale-signal gap",
                "time": o.first,
                "cause": f"no signal on {o.bars} live bar{'s' if o.bars > 1 else ''} from {o.first} to {o.last} "
                f"({_reasons(o.why)}): no entry could be made on them, where a backtest of the model "
                "scores every bar",
            }
        )
    timed = [e for e in rejected if e.time is not None]
    if rejected:
        e = timed[0] if timed else rejected[0]
        found.append(
            {
                "what": "rejected bar",
                "time": e.time,
                "row": e.payload.row,
                "cause": f"row {e.payload.row} rejected ({e.payload.reason}): the run never traded it, where a "
                "backtest of the file would have read it",
            }
        )
    first = min(found, key=lambda d: pd.Timestamp(d["time"]) if d["time"] else pd.Timestamp.max, default=None)
    return {
        **compared,
        "stale_gaps": sum(o.bars for o in outages),
        "rejected_bars": len(rejected),
        "first_divergence": first,
        "same": first is None,
    }


def _cause(
    symbol: str, at: pd.Timestamp, timeline: Timeline, causes: Sequence[Event[Order] | Event[ModelChange]]
) -> str:
    """What the journal says made the run part from its backtest at `at`: the last trouble of the symbol at or
    before that bar (a risk limit, a flatten, a stale-signal gap, a rejected row, a new model version)."""
    said: list[tuple[pd.Timestamp, int, str]] = []
    for e in timeline.risk_events:
        if e.symbol == symbol:
            said.append(
                (
                    pd.Timestamp(e.time),
                    e.seq,
                    (
                        f"risk limit {e.payload.limit} {e.payload.action or 'hit'} the {e.payload.side} of "
                        f"{e.payload.size:g} decided on {e.time} "
                        f"({e.payload.value:.4g} against {e.payload.threshold:.4g})"
                    ),
                )
            )
    for e in causes:
        if e.symbol != symbol:
            continue
        if e.kind == "order" and e.payload.reason == "flatten":
            said.append((pd.Timestamp(e.time), e.seq, f"the position was closed by `paper stop --flatten` on {e.time}"))
        elif e.kind == "model":
            said.append(
                (
                    pd.Timestamp(e.time),
                    e.seq,
                    (f"signals came from model v{e.payload.version} (was v{e.payload.previous}) from {e.time}"),
                )
            )
    for o in timeline.outages:
        if o.symbol == symbol:
            said.append((pd.Timestamp(o.first), 0, f"no signal on {o.bars} bars from {o.first} ({_reasons(o.why)})"))
    for e in timeline.rejected:
        if e.symbol == symbol and e.time is not None:
            said.append((pd.Timestamp(e.time), e.seq, f"row {e.payload.row} rejected ({e.payload.reason})"))
    before = [c for c in said if c[0] <= at]
    if not before:
        return "no journaled event explains it (the run and its backtest saw other bars or signals)"
    return max(before, key=lambda c: (c[0], c[1]))[2]


def _reasons(why: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in why.items())


def _first_fill_difference(live: pd.DataFrame, backtest: pd.DataFrame) -> dict[str, Any] | None:
    """The first fill (in order) that the run and the backtest do not share, or None."""
    for i in range(max(len(live), len(backtest))):
        ours = live.iloc[i] if i < len(live) else None
        theirs = backtest.iloc[i] if i < len(backtest) else None
        if (
            ours is not None
            and theirs is not None
            and ours["time"] == theirs["time"]
            and ours["side"] == theirs["side"]
            and all(
                math.isclose(ours[k], theirs[k], rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                for k in ("size", "price", "commission")
            )
        ):
            continue
        first = ours if ours is not None else theirs
        return {
            "what": "fill",
            "number": i + 1,
            "time": pd.Timestamp(first["time"]).isoformat(),
            "live": _fill(ours),
            "backtest": _fill(theirs),
        }
    return None


def _fill(row: pd.Series | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "time": pd.Timestamp(row["time"]).isoformat(),
        "side": row["side"],
        "size": float(row["size"]),
        "price": float(row["price"]),
        "commission": float(row["commission"]),
    }


def _value(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def _of(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The rows of `symbol`, numbered from 0."""
    return frame.loc[frame["symbol"] == symbol].reset_index(drop=True)


def _signals(events: Sequence[Event[Signal]], symbol: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """`symbol`'s journaled signals, one column per output column of the model (`columns`, when known: also a
    run with no signal yet, one that never had history enough, has them)."""
    rows = {pd.Timestamp(e.time): e.payload.outputs for e in events if e.symbol == symbol}
    return pd.DataFrame.from_dict(rows, orient="index", dtype=np.float64, columns=columns).sort_index()


def journaled_source(events: Sequence[Event[Signal]], symbol: str) -> PrecomputedSource:
    """`symbol`'s journaled signals as a source: what a served run's backtest trades (no model file to re-run)."""
    return _replayed(_signals(events, symbol, None))


def _replayed(signals: pd.DataFrame) -> PrecomputedSource:
    if signals.empty:
        raise InvalidInput("no journaled signals to replay: expected a served run that scored at least one bar")
    return PrecomputedSource(signals, name="journaled signals")


# --- the pages ------------------------------------------------------------------------------------------------


def _run_lines(report: PaperReport) -> list[str]:
    """What heads the run's page: what traded, from where, over which bars and sessions; the verdict; the trouble."""
    run, timeline = report.run, report.timeline
    versions = sorted({use.version for use in timeline.versions}) or [run.model_version]
    source = (
        f"served by {run.server}" if run.server else f"file {Path(run.model).name} (sha256 {run.model_sha256[:12]})"
    )
    live = [session for session in timeline.sessions if session.first_bar]
    span = f"live bars {min(s.first_bar for s in live)} .. {max(s.last_bar for s in live)}" if live else "no live bar"
    return [
        (
            f"paper run {run.run_id} of {', '.join(report.live)}: model {run.model_name} "
            f"v{', v'.join(map(str, versions))} {source}; {span}, "
            f"{_count(sum(s.bars for s in timeline.sessions), 'bar')} in {_count(len(timeline.sessions), 'session')}"
        ),
        _verdict(report.comparison),
        ", ".join(
            [
                _count(timeline.gap_bars(), "live bar")
                + " without a signal in "
                + _count(len(timeline.outages), "outage"),
                _count(len(timeline.rejected), "rejected bar"),
                _count(len(timeline.risk_events), "risk event"),
            ]
            + (
                [_count(len(timeline.notify_failed), "notification") + " not delivered"]
                if timeline.notify_failed
                else []
            )
        ),
    ]


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _verdict(comparison: Mapping[str, Any]) -> str:
    if comparison["same"]:
        return (
            "the run traded as its backtest: the same fills and account values, no bar without a signal, no "
            "rejected bar"
        )
    parted = [(s, c["first_divergence"]) for s, c in comparison["symbols"].items() if c["first_divergence"]]
    if not parted:
        return "the run and its backtest differ: bars were rejected (below)"
    symbol, first = min(parted, key=lambda p: pd.Timestamp(p[1]["time"]) if p[1]["time"] else pd.Timestamp.max)
    return f"the run and its backtest differ: {symbol} first at {first['time']} ({first['what']}): {first['cause']}"


def _symbol_page(report: PaperReport, symbol: str, sections: list[Section]) -> Page:
    """A symbol's page: the run's lines, its settings as journaled, charts with the run's trouble marked."""
    live, timeline = report.live[symbol], report.timeline
    marks = Marks(
        spans=[
            (pd.Timestamp(o.first), pd.Timestamp(o.last), "no signal (stale-signal gap)")
            for o in timeline.outages
            if o.symbol == symbol
        ]
        + [
            (pd.Timestamp(e.time), pd.Timestamp(e.time), "rejected bar")
            for e in timeline.rejected
            if e.symbol == symbol and e.time is not None
        ],
        moments=[(pd.Timestamp(s.first_bar), "resumed") for s in timeline.sessions if s.resumed and s.first_bar],
    )
    figures = {
        "equity": equity_chart(live, marks, {"its backtest": report.backtest[symbol].equity["strategy"]}),
        "drawdown": drawdown_chart(live, marks),
        "price": price_chart(live, marks),
    }
    return Page(
        KIND, [*_run_lines(report), trading_rules(live.params)], _settings(report.run, symbol), figures, sections
    )


def _settings(run: RunConfig, symbol: str) -> dict[str, Any]:
    """The run's configuration as journaled, for `symbol`'s feed: what a paper run is started with, nothing a
    backtest alone has."""
    feed = next(feed for feed in run.feeds if feed.symbol == symbol)
    where = (
        {"server": run.server, "signal timeout (s)": run.signal_timeout, "bearer token": run.token}
        if run.server
        else {"model file": run.model, "model sha256": run.model_sha256}
    )
    return {
        "run id": run.run_id,
        "model": run.model_name,
        "version at start": run.model_version,
        **where,
        "feed": feed.spec,
        "cash": run.cash,
        "commission": run.commission,
        "slippage": run.slippage,
        **run.strategy,
        **{f"risk {name}": value for name, value in run.risk.items()},
        "signalstack": run.signalstack,
    }


def _sections(report: PaperReport, symbol: str | None = None) -> list[Section]:
    """The run's history and its comparison with its backtest, of every symbol or of `symbol`."""
    timeline = report.timeline

    def mine(of: str | None) -> bool:
        return symbol is None or of == symbol

    sessions = [
        [
            str(s.number),
            _clock(s.began),
            "resume" if s.resumed else "start",
            s.first_bar or "-",
            s.last_bar or "-",
            str(s.bars),
            s.ended,
            "-" if s.ended_at is None else _clock(s.ended_at),
        ]
        for s in timeline.sessions
    ]
    trouble = sorted(
        [
            [o.symbol, o.first, o.last, str(o.bars), "no signal (stale-signal gap)", _reasons(o.why)]
            for o in timeline.outages
            if mine(o.symbol)
        ]
        + [
            [
                e.symbol or "",
                e.time or "(no time)",
                e.time or "(no time)",
                "1",
                f"rejected bar (row {e.payload.row})",
                e.payload.reason,
            ]
            for e in timeline.rejected
            if mine(e.symbol)
        ],
        key=lambda row: row[1],
    )
    risks = [
        [
            e.symbol or "",
            e.time or "",
            e.payload.limit,
            f"{e.payload.value:.4g}",
            f"{e.payload.threshold:.4g}",
            e.payload.action or "-",
            f"{e.payload.side} {e.payload.size:g} -> {e.payload.placed:g}",
        ]
        for e in timeline.risk_events
        if mine(e.symbol)
    ]
    versions = [
        [u.symbol, u.model, f"v{u.version}", u.first, u.last, str(u.bars)] for u in timeline.versions if mine(u.symbol)
    ]
    sections = [
        Section(
            "Sessions",
            [
                (
                    "Each start or resume of the run, the live bars it finished and how it ended "
                    "(wall-clock times in UTC)."
                )
            ],
            ["session", "began", "how", "first live bar", "last live bar", "live bars", "ended", "ended at"],
            sessions,
        ),
        Section(
            "Bars without a signal and rejected bars",
            [
                f"{len(trouble)} spans; on the charts they are shaded, the signal line is not drawn across a bar "
                "without a signal, and dotted lines mark resumes."
                if trouble
                else "none: every live bar had its signal and no bar was rejected"
            ],
            ["symbol", "from", "to", "bars", "what", "why"] if trouble else (),
            trouble,
        ),
        Section(
            "Risk events",
            [f"{len(risks)} entries cut or blocked by a risk limit" if risks else "none"],
            ["symbol", "bar", "limit", "value", "limit value", "action", "order (wanted -> placed)"] if risks else (),
            risks,
        ),
        Section(
            "Model versions",
            ["The model versions that made the signals, in the order they were used."],
            ["symbol", "model", "version", "first signal", "last signal", "signals"],
            versions,
        ),
    ]
    if timeline.notify_failed:
        sections.append(
            Section(
                "Notifications not delivered",
                [f"{len(timeline.notify_failed)} (journaled as notify_failed; the run went on)"],
                ["event", "webhook", "attempts", "error"],
                [
                    [e.payload.event, e.payload.target, str(e.payload.attempts), e.payload.error]
                    for e in timeline.notify_failed[:50]
                ],
            )
        )
    compared = {s: c for s, c in report.comparison["symbols"].items() if mine(s)}
    return [*sections, _comparison_section(report.comparison, compared)]


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _comparison_section(comparison: Mapping[str, Any], symbols: Mapping[str, Any]) -> Section:
    """The comparison as a report section: one row per symbol."""

    def pair(value: Mapping[str, Any], fmt: str) -> str:
        return f"{fmt.format(value['live'])} / {fmt.format(value['backtest'])}"

    rows = [
        [
            symbol,
            pair(c["fills"], "{}"),
            pair(c["trades"], "{}"),
            pair(c["total_return"], "{:.2%}"),
            _difference(c["max_abs_equity_difference"]),
            str(c["stale_gaps"]),
            str(c["rejected_bars"]),
            str(c["risk_events"]),
            "none"
            if c["first_divergence"] is None
            else f"{c['first_divergence']['what']} at "
            f"{c['first_divergence']['time']}: "
            f"{c['first_divergence']['cause']}",
        ]
        for symbol, c in symbols.items()
    ]
    verdict = "the run traded as its backtest" if comparison["same"] else "the run and its backtest differ"
    return Section(
        f"Paper run {comparison['run_id']} against its backtest",
        [f"{verdict} (tolerance {comparison['tolerance']:g}; details in comparison.json)"],
        [
            "symbol",
            "fills (run / backtest)",
            "trades (run / backtest)",
            "total return (run / backtest)",
            "max |equity difference|",
            "bars without a signal",
            "rejected bars",
            "risk events",
            "first divergence",
        ],
        rows,
    )


def _difference(value: float | None) -> str:
    return "no common bar" if value is None else f"{value:,.6g}"


__all__ = ["KIND", "TOLERANCE", "PaperReport", "compare", "journaled_source", "paper_results", "write_paper_report"]
