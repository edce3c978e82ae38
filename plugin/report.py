"""A backtest's report: a text table for the terminal, and a folder with an HTML page, PNGs, CSV and JSON.

One symbol: `write_report` (report.html, a PNG per chart, trades.csv, stats.json, config.json).
Several: `write_portfolio` writes one such folder per symbol and an index.html portfolio page.
A `Page` changes what heads, shows and ends a page (a paper run's title, description, settings, charts
and `Section`s of its own). The HTML is self-contained (charts embedded as base64 PNG), so it can be
mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .backtest import BacktestResult
from .charts import calibration_chart, drawdown_chart, equity_chart, png_bytes, portfolio_chart, price_chart
from .stats import equal_weight, monthly_returns, performance

# (label, stat key, format) per table row; percentages are of fractions.
_ROWS = (
    ("total return", "total_return", "{:.2%}"),
    ("CAGR", "cagr", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("bars per year", "periods_per_year", "{:,.1f}"),  # the factor that annualised Sharpe and Sortino
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("exposure", "exposure", "{:.1%}"),
    ("turnover / year", "turnover", "{:.1f}x"),
    ("trades", "trades", "{:.0f}"),
    ("win rate", "win_rate", "{:.1%}"),
    ("signal hit rate", "signal_hit_rate", "{:.1%}"),
)
_QUALITY_ROWS = (
    ("bars scored", "n", "{:.0f}"),
    ("hit rate", "hit_rate", "{:.1%}"),
    ("precision of up calls", "precision", "{:.1%}"),
    ("recall of up moves", "recall", "{:.1%}"),
    ("Brier score", "brier", "{:.4f}"),
    ("IC (Pearson)", "ic_pearson", "{:.3f}"),
    ("IC (Spearman)", "ic_spearman", "{:.3f}"),
)
_SUMMARY = (
    ("total return", "total_return", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("trades", "trades", "{:.0f}"),
    ("hit rate", "signal_hit_rate", "{:.1%}"),
)
_CHARTS: tuple[tuple[str, Callable[[BacktestResult], Figure]], ...] = (
    ("equity", equity_chart),
    ("drawdown", drawdown_chart),
    ("price", price_chart),
    ("calibration", calibration_chart),
)
_TRADES_SHOWN = 200


@dataclass(frozen=True)
class Section:
    """A part a caller adds to a report page: a heading, lines of text, and a table of plain text cells."""

    title: str
    lines: Sequence[str] = ()
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()


@dataclass(frozen=True)
class Page:
    """What a caller puts on a report page in place of a backtest's: the kind of run that heads it, the
    lines under its title, the settings table, charts by name ("equity", "drawdown", "price",
    "calibration"), and sections at its end. Left out, each is the backtest's (no sections)."""

    kind: str = "Backtest"
    lines: Sequence[str] | None = None
    settings: Mapping[str, Any] | None = None
    figures: Mapping[str, Figure] = field(default_factory=dict)
    sections: Sequence[Section] = ()


def format_report(result: BacktestResult) -> str:
    """The strategy's statistics next to buy-and-hold's, with the period, costs and signal quality, as text."""
    lines = [*_describe(result), "", f"{'':<22}{'strategy':>12}{'buy & hold':>12}"]
    for label, key, fmt in _ROWS:
        lines.append(f"{label:<22}{_cell(result.stats, key, fmt):>12}{_cell(result.benchmark, key, fmt):>12}")
    lines += ["", f"signal quality of {result.params['line']} at horizon {result.params['horizon']}:"]
    lines += [f"{label:<22}{_cell(result.quality, key, fmt):>12}" for label, key, fmt in _QUALITY_ROWS]
    return "\n".join(lines)


def _describe(result: BacktestResult) -> list[str]:
    """Two lines: what was traded over which period; the strategy's rules and costs."""
    p = result.params
    period = "out of sample" if p["out_of_sample"] else "NOT out of sample: includes training/validation bars"
    name = f"{p['symbol']} with {p['source']}" if p["symbol"] else p["source"]
    return [
        f"backtest of {name}: {p['start'][:10]} .. {p['end'][:10]}, {len(result.equity)} bars ({period})",
        trading_rules(p),
    ]


def trading_rules(p: Mapping[str, Any]) -> str:
    """One line of the strategy's rules and costs, from a result's `params`."""
    rules = [
        ("long/short" if p["allow_short"] else "long only"),
        _sizing(p),
        f"buy {p['line']} >= {p['buy_threshold']}, sell {p['line']} <= {p['sell_threshold']}",
    ]
    rules += [f"{name.replace('_', ' ')} {p[name]:.1%}" for name in ("stop_loss", "take_profit") if p[name]]
    if p["hold"]:
        rules.append(f"hold {p['hold']} bars" if p["hold"] != "horizon" else f"hold {p['horizon']} bars (horizon)")
    if p["min_margin"]:
        rules.append(f"min margin {p['min_margin']}")
    return "; ".join(rules) + f"; commission {p['commission']:.3%}, slippage {p['slippage']:.3%}"


def _sizing(p: Mapping[str, Any]) -> str:
    if p["sizing"] == "fixed":
        return f"{p['stake']:g} units"
    if p["sizing"] == "volatility":
        return f"volatility target {p['vol_target']:.0%} (at most {p['stake']:.0%})"
    return f"stake {p['stake']:.0%}"


def _cell(stats: pd.Series, key: str, fmt: str) -> str:
    value = stats.get(key, math.nan)
    return "-" if pd.isna(value) else fmt.format(value)


def write_report(result: BacktestResult, out_dir: str | Path, page: Page = Page()) -> list[Path]:
    """Write report.html, a PNG per chart, trades.csv, stats.json and config.json into `out_dir`
    (created); return their paths, the page first. `page`: what the page says in place of a backtest's."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    for name, chart in _CHARTS:
        if name == "calibration" and result.calibration.empty:
            continue  # a forecast or score line has no probabilities to calibrate
        images[name] = png_bytes(page.figures[name] if name in page.figures else chart(result))
    paths = [out / "report.html"]
    for name, png in images.items():
        paths.append(out / f"{name}.png")
        paths[-1].write_bytes(png)
    paths += [out / "trades.csv", out / "stats.json", out / "config.json"]
    result.trades.to_csv(paths[-3], index=False)
    doc = {
        "strategy": plain_stats(result.stats),
        "buy_and_hold": plain_stats(result.benchmark),
        "signal_quality": plain_stats(result.quality),
        "params": result.params,
    }
    paths[-2].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    paths[-1].write_text(json.dumps(result.params, indent=2, default=str) + "\n")
    paths[0].write_text(_symbol_page(result, images, page))
    return paths


def plain_stats(stats: pd.Series) -> dict[str, Any]:
    """Stats as JSON values: NaN becomes null."""
    return {key: None if pd.isna(value) else float(value) for key, value in stats.items()}


def write_portfolio(
    results: Mapping[str, BacktestResult],
    out_dir: str | Path,
    page: Page = Page(),
    pages: Mapping[str, Page] | None = None,
) -> list[Path]:
    """One `write_report` folder per symbol under `out_dir`, and index.html, portfolio.png and
    portfolio.json for the symbols traded side by side with the cash split equally; return the
    paths, the portfolio page first. `page` heads and ends the portfolio page (its kind, its lines
    under the title, its sections), `pages` each symbol's (default: of `page`'s kind)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders = _folders(results)
    paths = [out / "index.html", out / "portfolio.png", out / "portfolio.json"]
    for symbol, result in results.items():
        paths += write_report(result, out / folders[symbol], (pages or {}).get(symbol, Page(page.kind)))
    equity, stats, benchmark = _portfolio(results)
    png = png_bytes(portfolio_chart(equity, {s: r.equity["strategy"] for s, r in results.items()}))
    paths[1].write_bytes(png)
    doc = {"strategy": plain_stats(stats), "buy_and_hold": plain_stats(benchmark), "symbols": list(results)}
    paths[2].write_text(json.dumps(doc, indent=2) + "\n")
    paths[0].write_text(_portfolio_page(results, folders, equity, stats, benchmark, png, page))
    return paths


def format_portfolio(results: Mapping[str, BacktestResult]) -> str:
    """One row per symbol and one for the equal-weight portfolio, as text."""
    _, stats, benchmark = _portfolio(results)
    width = max(12, *(len(s) + 2 for s in results))
    header = f"{'':<{width}}" + "".join(f"{label:>14}" for label, _, _ in _SUMMARY) + f"{'buy & hold':>14}"
    rows = [(symbol, r.stats, r.benchmark) for symbol, r in results.items()] + [("portfolio", stats, benchmark)]
    lines = [header] + [
        f"{name:<{width}}"
        + "".join(f"{_cell(s, key, fmt):>14}" for _, key, fmt in _SUMMARY)
        + f"{_cell(b, 'total_return', '{:.2%}'):>14}"
        for name, s, b in rows
    ]
    return "\n".join(lines)


def _portfolio(results: Mapping[str, BacktestResult]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Equity (strategy, buy_and_hold) of the cash split equally across symbols, and both sides' stats.

    Each symbol's backtest ran on the whole cash, so its traded value counts 1/N in the portfolio.
    """
    if not results:
        raise ValueError("portfolio of no backtests: expected at least one symbol")
    first = next(iter(results.values()))
    cash = first.params["cash"]
    equity = pd.concat(
        {
            side: equal_weight({s: r.equity[side] for s, r in results.items()}, cash)
            for side in ("strategy", "buy_and_hold")
        },
        axis=1,
    )
    trades = pd.concat([r.trades for r in results.values()], ignore_index=True)
    traded = sum(r.fills["value"].sum() for r in results.values()) / len(results)
    periods = first.params["periods_per_year"]
    stats = performance(equity["strategy"], trades, periods, traded_value=traded)
    stats["signal_hit_rate"] = math.nan
    return equity, stats, performance(equity["buy_and_hold"], None, periods)


def _folders(results: Mapping[str, BacktestResult]) -> dict[str, str]:
    """A distinct, file-system safe folder name per symbol."""
    folders: dict[str, str] = {}
    for symbol in results:
        base = re.sub(r"[^\w.-]+", "_", symbol).strip("._") or "symbol"
        name, n = base, 1
        while name in folders.values():
            n += 1
            name = f"{base}_{n}"
        folders[symbol] = name
    return folders


# --- HTML -------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1140px;
       color: #1d2329; background: #ffffff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
p.meta { color: #555; margin: 0.2em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 9px; text-align: right; }
th { background: #f3f5f7; } td.label, th.label { text-align: left; }
img { max-width: 100%; display: block; margin: 0.6em 0; border: 1px solid #e4e8eb; }
"""


def _document(title: str, body: list[str], sections: Sequence[Section]) -> str:
    for section in sections:
        body += [
            f"<h2>{html.escape(section.title)}</h2>",
            *(f'<p class="meta">{html.escape(line)}</p>' for line in section.lines),
        ]
        if section.header:
            body.append(_table(section.header, section.rows))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], first_is_label: bool = True) -> str:
    head = "".join(
        f'<th class="{"label" if i == 0 and first_is_label else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            cell
            if cell.startswith("<td")
            else f'<td class="{"label" if i == 0 and first_is_label else ""}">{html.escape(cell)}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _stats_table(strategy: pd.Series, benchmark: pd.Series) -> str:
    return _table(
        ["", "strategy", "buy & hold"],
        [[label, _cell(strategy, key, fmt), _cell(benchmark, key, fmt)] for label, key, fmt in _ROWS],
    )


def _monthly_table(equity: pd.Series) -> str:
    """Monthly returns in percent, green for gains and red for losses, stronger up to +-10%."""
    table = monthly_returns(equity)

    def cell(value: float) -> str:
        if pd.isna(value):
            return "<td></td>"
        strength = min(abs(value) / 0.10, 1.0) * 0.6
        color = f"rgba(26, 150, 65, {strength:.2f})" if value >= 0 else f"rgba(215, 48, 39, {strength:.2f})"
        return f'<td style="background: {color}">{value:.1%}</td>'

    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    rows = [[str(year)] + [cell(table.loc[year, column]) for column in table.columns] for year in table.index]
    return _table(["year", *months, "year"], rows)


def _trades_table(trades: pd.DataFrame) -> str:
    shown = trades.head(_TRADES_SHOWN)
    rows = [
        [
            str(t.entry_time.date()),
            "" if pd.isna(t.exit_time) else str(t.exit_time.date()),
            t.direction,
            f"{t.size:g}",
            f"{t.entry_price:.2f}",
            "" if pd.isna(t.exit_price) else f"{t.exit_price:.2f}",
            "" if pd.isna(t.pnl_net) else f"{t.pnl_net:,.2f}",
        ]
        for t in shown.itertuples()
    ]
    note = (
        f'<p class="meta">First {_TRADES_SHOWN} of {len(trades)} trades; all are in trades.csv.</p>'
        if len(trades) > _TRADES_SHOWN
        else ""
    )
    return _table(["entry", "exit", "side", "size", "entry price", "exit price", "pnl after costs"], rows) + note


def _symbol_page(result: BacktestResult, images: Mapping[str, bytes], page: Page) -> str:
    p = result.params
    title = f"{page.kind}: {p['symbol'] or p['source']}"
    lines = _describe(result) if page.lines is None else page.lines
    body = [f"<h1>{html.escape(title)}</h1>"] + [f'<p class="meta">{html.escape(line)}</p>' for line in lines]
    body += [
        "<h2>Performance</h2>",
        _stats_table(result.stats, result.benchmark),
        "<h2>Equity against buy &amp; hold</h2>",
        _image(images["equity"], "equity curve"),
        "<h2>Drawdown</h2>",
        _image(images["drawdown"], "drawdown"),
        "<h2>Price, fills and signal</h2>",
        _image(images["price"], "price with fills and signal"),
        f"<h2>Signal quality of {html.escape(p['line'])} at horizon {p['horizon']}</h2>",
        _table(["", "value"], [[label, _cell(result.quality, key, fmt)] for label, key, fmt in _QUALITY_ROWS]),
    ]
    if "calibration" in images:
        body.append(_image(images["calibration"], "calibration"))
    body += [
        "<h2>Monthly returns</h2>",
        _monthly_table(result.equity["strategy"]),
        "<h2>Trades</h2>",
        _trades_table(result.trades),
        "<h2>Configuration</h2>",
        _table(
            ["parameter", "value"],
            [[key, str(value)] for key, value in (result.params if page.settings is None else page.settings).items()],
        ),
    ]
    return _document(title, body, page.sections)


def _portfolio_page(
    results: Mapping[str, BacktestResult],
    folders: Mapping[str, str],
    equity: pd.DataFrame,
    stats: pd.Series,
    benchmark: pd.Series,
    png: bytes,
    page: Page,
) -> str:
    title = f"{page.kind} of a portfolio: {len(results)} symbols"
    first = next(iter(results.values())).params
    rows = []
    for symbol, result in results.items():
        link = f'<td class="label"><a href="{html.escape(folders[symbol])}/report.html">{html.escape(symbol)}</a></td>'
        rows.append(
            [link]
            + [_cell(result.stats, key, fmt) for _, key, fmt in _SUMMARY]
            + [_cell(result.benchmark, "total_return", "{:.2%}")]
        )
    lines = (
        page.lines
        if page.lines is not None
        else [
            f"{first['source']}; cash {first['cash']:,.0f} split equally; "
            "each symbol traded on its own as in its report."
        ]
    )
    body = [
        f"<h1>{html.escape(title)}</h1>",
        *(f'<p class="meta">{html.escape(line)}</p>' for line in lines),
        "<h2>Portfolio against buy &amp; hold</h2>",
        _image(png, "portfolio equity"),
        _stats_table(stats, benchmark),
        "<h2>Symbols</h2>",
        _table(["symbol", *(label for label, _, _ in _SUMMARY), "buy & hold"], rows),
        "<h2>Monthly returns of the portfolio</h2>",
        _monthly_table(equity["strategy"]),
    ]
    return _document(title, body, page.sections)
