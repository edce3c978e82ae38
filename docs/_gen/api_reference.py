"""The Python API reference: one page per group of public modules, rendered by mkdocstrings from the docstrings.

`PAGES` is the public surface: (page file, title, [(module, [public names])]). A name listed here is public:
its signature and docstring are the promise. Each page holds mkdocstrings directives only; the text comes from
the code at build time.
"""

from __future__ import annotations

PAGES: list[tuple[str, str, list[tuple[str, list[str]]]]] = [
    (
        "core.md",
        "Core: bars, model, card, settings, errors",
        [
            ("signalstack.core.bars", ["load_bars", "load_symbols", "validate_bars", "BarsError"]),
            ("signalstack.core.model", ["OnnxModel"]),
            ("signalstack.core.card", ["ModelCard", "TensorInfo"]),
            ("signalstack.core.settings", ["Settings", "parse", "load_yaml", "json_schema"]),
            (
                "signalstack.core.errors",
                ["SignalstackError", "InvalidInput", "LimitExceeded", "SettingsError", "NotFound"],
            ),
        ],
    ),
    (
        "plugin.md",
        "Backtrader plugin: sources, strategies, backtests",
        [
            (
                "signalstack.plugin.sources",
                ["SignalSource", "OnnxSource", "GrpcSource", "PrecomputedSource", "open_source"],
            ),
            ("signalstack.plugin.indicators", ["SignalIndicator"]),
            ("signalstack.plugin.strategies", ["SignalStrategy", "RankingStrategy"]),
            ("signalstack.plugin.settings", ["TradingSettings"]),
            ("signalstack.plugin.backtest", ["run_backtest", "BacktestResult"]),
            ("signalstack.plugin.ranking", ["run_ranking", "RankingResult", "write_ranking"]),
            ("signalstack.plugin.report", ["write_report"]),
            ("signalstack.plugin.feeds", ["bars_feed", "fundamentals_feed"]),
            ("signalstack.plugin.analyzers", ["Performance", "SignalQuality"]),
        ],
    ),
    (
        "serving.md",
        "Serving and its clients",
        [
            ("signalstack.server.options", ["ServeOptions"]),
            ("signalstack.server.app", ["SignalServer"]),
            ("signalstack.transport.client", ["SignalClient"]),
            ("signalstack.transport.security", ["ClientSecurity"]),
        ],
    ),
    (
        "paper.md",
        "Paper trading",
        [
            ("signalstack.paper.runner", ["PaperConfig", "PaperResult", "run_paper", "resume_paper"]),
            ("signalstack.paper.push_client", ["push_bars"]),
        ],
    ),
    (
        "research.md",
        "Research runs",
        [
            ("signalstack.research.experiment", ["load_experiment", "parse_experiment"]),
            ("signalstack.research.run", ["run_experiment", "RunResult"]),
        ],
    ),
    (
        "models.md",
        "Training and the zoo",
        [
            (
                "signalstack.models.zoo",
                ["list_models", "get_entry", "create_model", "model_spec", "register_model", "ModelEntry"],
            ),
        ],
    ),
]
"""(page file under reference/api/, title, [(module, public names)]), in navigation order."""


def pages() -> dict[str, str]:
    """{file name under reference/api/: page text}, the index and SUMMARY.md (the section's navigation) included."""
    out = {}
    for file, title, modules in PAGES:
        parts = [f"# {title}\n"]
        for module, names in modules:
            parts.append(f"## `{module}`\n")
            parts += [f"::: {module}.{name}\n    options:\n      heading_level: 3\n" for name in names]
        out[file] = "\n".join(parts)
    rows = "\n".join(
        f"- [{title}]({file}): " + ", ".join(f"`{module}`" for module, _ in modules) for file, title, modules in PAGES
    )
    out["index.md"] = (
        "# Python API\n\nGenerated from the docstrings when this site was built. The names listed "
        "on these pages are signalstack's public Python API; anything else may change between "
        f"versions.\n\n{rows}\n"
    )
    out["SUMMARY.md"] = "* [Overview](index.md)\n" + "".join(f"* [{title}]({file})\n" for file, title, _ in PAGES)
    return out
