"""`paper run --config paper.yaml`: a paper run's settings in a YAML file whose keys mirror `paper run`'s flags.

Each key is a flag's name without the dashes (`buy_threshold` or `buy-threshold` for `--buy-threshold`),
except `feeds`, the list of `--feed` specs. Flags given on the command line override the file; a key
the file leaves out takes the flag's default. An unknown key, or a value of the wrong kind, is an
error naming the key and what was expected. Every key (all optional here; `model`, `feeds` and
`journal` must come from the file or the command line):

    model: quick.onnx            # FILE.onnx, or with `server` the name of a served model
    server: 127.0.0.1:50051      # signals from `signalstack serve` (optional)
    signal_timeout: 2.0          # with server: seconds a bar waits for its signal
    tls_ca: ca.pem               # with server: connect over TLS (tls_cert, tls_key: a client
    tls_cert: desk.pem           #   certificate for servers that verify clients); the bearer token
    tls_key: desk.key            #   is no key here: --token or $SIGNALSTACK_TOKEN, never in a file
    feeds:                       # one account per feed; a single spec may be given as a string
      - SPX=replay:spx.csv?pace=0&start=2018-06-01
    journal: run.sqlite          # a new file
    line: p_up                   # p_up | forecast | score
    buy_threshold: 0.55
    sell_threshold: 0.45
    allow_short: false
    sizing: percent              # percent | fixed | volatility
    stake: 0.95
    vol_target: 0.15
    periods_per_year: 252
    stop_loss: 0.05
    take_profit: 0.10
    hold: 0                      # bars, or horizon
    min_margin: 0.0
    cash: 100000
    commission: 0.001
    slippage: 0.0005
    max_position: 0.5            # risk limits (signalstack.paper.risk); unset: none
    max_gross: 1.0
    daily_loss_limit: 0.02

Relative paths (model, journal, TLS files, replay files) are read from the directory the command runs in, as
the same flags would be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _feeds(value: Any) -> bool:
    return _text(value) or (isinstance(value, list) and bool(value) and all(_text(v) for v in value))


def _hold(value: Any) -> bool:
    return value == "horizon" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


_TEXT, _NUMBER = (_text, "a string"), (_number, "a number")
KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": _TEXT, "server": _TEXT, "signal_timeout": _NUMBER, "tls_ca": _TEXT, "tls_cert": _TEXT, "tls_key": _TEXT,
    "feeds": (_feeds, "a feed spec or a list of them"), "journal": _TEXT,
    "line": _TEXT, "buy_threshold": _NUMBER, "sell_threshold": _NUMBER,
    "allow_short": (lambda v: isinstance(v, bool), "true or false"), "sizing": _TEXT, "stake": _NUMBER,
    "vol_target": _NUMBER, "periods_per_year": _NUMBER, "stop_loss": _NUMBER, "take_profit": _NUMBER,
    "hold": (_hold, "bars >= 0 or horizon"), "min_margin": _NUMBER,
    "cash": _NUMBER, "commission": _NUMBER, "slippage": _NUMBER,
    "max_position": _NUMBER, "max_gross": _NUMBER, "daily_loss_limit": _NUMBER,
}
"""The keys a paper run's YAML file takes, each with its check and what it expects."""


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings of the YAML file at `path`, keyed as `KEYS` (dashes read as underscores), checked;
    `feeds` always a list. Raises ValueError naming the file and the bad key or value."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"config {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config {path}: not YAML ({' '.join(str(exc).split())})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ValueError(  # noqa: TRY004 - a bad file is a ValueError, like every other bad setting
            f"config {path}: a {type(loaded).__name__} at the top, expected a mapping of settings")
    settings: dict[str, Any] = {}
    for raw, value in loaded.items():
        key = str(raw).replace("-", "_")
        if key not in KEYS:
            raise ValueError(f"config {path}: unknown key {raw!r}; expected among {', '.join(KEYS)}")
        if key in settings:
            raise ValueError(f"config {path}: key {key!r} given twice")
        check, expected = KEYS[key]
        if value is not None and not check(value):
            raise ValueError(f"config {path}: {raw} is {value!r}, expected {expected}")
        settings[key] = value
    if isinstance(settings.get("feeds"), str):
        settings["feeds"] = [settings["feeds"]]
    return {key: value for key, value in settings.items() if value is not None}


__all__ = ["KEYS", "read_config"]
