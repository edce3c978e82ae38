"""`paper watch`: a page that follows runs while they trade, read-only on their journals, shows what `paper status
--json` says, loads nothing from outside the machine, and asks for a token when bound beyond loopback."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.errors import SettingsError
from signalstack.paper.config import PaperConfig
from signalstack.paper.kill_switch import request_stop
from signalstack.paper.risk import RiskLimits
from signalstack.paper.runner import run_paper
from signalstack.paper.status import read_status
from signalstack.paper.watch import WatchServer
from signalstack.plugin.settings import TradingSettings

from .browser import ARTIFACTS, Browser, chromium
from .support import START_BAR, journal_count, journal_events, paper_args, signalstack, start_signalstack, wait_for

TOKEN = "watch-token-0123456789abcdef"
LIVE = 40
"""Live bars of the traded replay: at PACE seconds each, the page sees them arrive."""
PACE = 0.4


def _formatted(value: Any, form: str) -> str:
    """What the page's script shows for `value` in `form` (watch.js FORMATS): toFixed rounds the exact binary
    value half away from zero, as Decimal's ROUND_HALF_UP does."""

    def fixed(x: float, places: str) -> Decimal:
        return Decimal(x).quantize(Decimal(places), ROUND_HALF_UP)

    if form in ("money", "pnl"):
        sign = "-" if value < 0 else "+" if value > 0 and form == "pnl" else ""
        return sign + f"{fixed(abs(value), '0.01'):,}"
    if form == "p4":
        return str(fixed(value, "0.0001"))
    if form == "pct":
        return f"{fixed(100 * value, '0.01')}%"
    if form == "num":
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _at(status: dict[str, Any], key: str) -> Any:
    value: Any = status
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _shown(browser: Browser, journal: int) -> list[tuple[str, str, str]]:
    """(key, format, text) of every status value on the page's section of journal number `journal`."""
    return [
        tuple(row)
        for row in browser.evaluate(
            f"[...document.querySelectorAll('section[data-journal=\"{journal}\"] [data-key]')]"
            ".map(e => [e.dataset.key, e.dataset.format, e.textContent])"
        )
    ]


def _differences(shown: list[tuple[str, str, str]], status: dict[str, Any]) -> list[str]:
    """Each value shown that is not the status's (or that the status lacks)."""
    differ = []
    for key, form, text in shown:
        try:
            value = _at(status, key)
        except (KeyError, IndexError):
            differ.append(f"{key}: shown {text!r}, not in the status")
            continue
        if text != _formatted(value, form):
            differ.append(f"{key}: shown {text!r}, status {value!r}")
    return differ


@pytest.fixture
def finished(
    paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path
) -> Path:
    """A finished run with risk events and a rejected row."""
    bad = replay_bars.copy()
    bad.iloc[START_BAR + 30, bad.columns.get_loc("close")] = -1.0
    bad.to_csv(journal_dir / "risky.csv")
    journal = journal_dir / "risky.sqlite"
    run_paper(
        PaperConfig(
            model=paper_model,
            feeds=[f"RISKY=replay:{journal_dir / 'risky.csv'}?start={start}"],
            trading=TradingSettings(**thresholds, stake=0.9),
            risk=RiskLimits(max_position=0.4),
        ),
        journal,
    )
    return journal


@pytest.mark.skipif(
    chromium() is None,
    reason="headless Chromium is not installed (apt-get install -y chromium): the live page is not opened in a browser",
)
def test_the_page_follows_a_trading_replay_and_shows_what_status_says(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    finished: Path,
    tmp_path: Path,
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "live.sqlite"
    replay_bars.iloc[: START_BAR + LIVE].to_csv(csv)
    untouched = hashlib.sha256(finished.read_bytes()).hexdigest()
    run = start_signalstack(
        ["paper", "run", *paper_args(paper_model, csv, start, thresholds, pace=PACE), "--journal", str(journal)]
    )
    try:
        with (
            WatchServer([journal, finished], port=0, refresh=0.2) as server,
            Browser(tmp_path / "profile", height=1400) as browser,
        ):
            browser.open(server.url)
            browser.evaluate("window.sameDocument = true")
            wait_for(lambda: journal_count(journal, "snapshot") >= 2, "the run's first live bars")
            # The numbers shown equal the status taken at the same event: caught between two bars (PACE s apart).
            matched: set[int] = set()
            ends = time.monotonic() + 60
            while len(matched) < 3 and time.monotonic() < ends:
                shown = _shown(browser, 0)
                status = read_status(journal).as_dict()
                if shown and not _differences(shown, status):
                    matched.add(status["bars"])
                time.sleep(0.05)
            assert len(matched) >= 3, f"the page never showed the status of 3 bars ({sorted(matched)})"
            assert browser.evaluate("window.sameDocument === true")  # it updated itself, never reloaded
            request_stop(journal)
            assert run.wait(60) == 0, run.stderr.read()[-2000:]
            browser.wait_for(
                "document.querySelector('section[data-journal=\"0\"] .state').textContent.includes('kill switch')",
                "the page to show the stop",
            )
            time.sleep(0.5)  # the next refresh also brings the activity of the last bar
            for number, path in enumerate((journal, finished)):
                printed = json.loads(signalstack(["paper", "status", "--journal", str(path), "--json"]).stdout)
                shown = _shown(browser, number)
                assert not _differences(shown, printed), _differences(shown, printed)
                keys = {key for key, _, _ in shown}
                symbol = next(iter(printed["accounts"]))
                assert {
                    "equity",
                    "cash",
                    "today_pnl",
                    "bars",
                    "signals",
                    "orders",
                    "fills",
                    "rejected_bars",
                    "stale_gaps",
                    f"positions.{symbol}",
                    f"accounts.{symbol}.cash",
                    f"accounts.{symbol}.equity",
                    f"last_bar.{symbol}",
                    f"last_signal.{symbol}.p_up",
                    f"last_signal.{symbol}.model",
                    f"last_signal.{symbol}.version",
                } <= keys
                assert {f"risk_events.{i}.limit" for i in range(len(printed["risk_events"]))} <= keys
            fills = journal_events(journal, "fill")
            rows = browser.evaluate(
                '[...document.querySelectorAll(\'section[data-journal="0"] '
                '[data-table="fills"] tbody tr\')].map(r => r.cells[1].textContent)'
            )
            assert rows == [e.time for e in fills[::-1][:20]]  # the recent fills, newest first
            [rejected] = journal_events(finished, "rejected")
            assert rejected.payload.reason in browser.evaluate(
                "document.querySelector('section[data-journal=\"1\"]').textContent"
            )
            assert browser.evaluate("document.querySelectorAll('svg.chart polyline').length") == 4
            shot = browser.screenshot(ARTIFACTS / "watch.png")
            assert browser.requests and all(url.startswith(server.url) for url in browser.requests), browser.requests
            assert not browser.failed and not browser.console, (browser.failed, browser.console)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(30)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert hashlib.sha256(finished.read_bytes()).hexdigest() == untouched  # read-only


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_page_bound_beyond_loopback_asks_a_token_of_every_request(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SettingsError, match="--host 0.0.0.0: not a loopback address.*expected --token-file"):
        WatchServer([finished], host="0.0.0.0", port=0)
    assert main(["paper", "watch", "--journal", str(finished), "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "expected --token-file FILE too" in capsys.readouterr().err
    with WatchServer([finished], host="0.0.0.0", port=0, tokens=[TOKEN]) as server:
        base = server.url
        for path in ("", "watch.js", "watch.css", "api/status", "api/activity?journal=0"):
            assert _get(base + path)[0] == 401
            assert _get(base + path, {"Authorization": "Bearer not-the-token-at-all"})[0] == 401
        status, _, body = _get(base + "api/status", {"Authorization": f"Bearer {TOKEN}"})
        [entry] = json.loads(body)["journals"]
        assert status == 200 and _timeless(entry["status"]) == _timeless(read_status(finished).as_dict())
        assert entry["error"] is None
        status, headers, page = _get(f"{base}?token={TOKEN}")
        assert status == 200 and b"watch.js" in page and "HttpOnly" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert _get(base + "watch.js", {"Cookie": cookie})[0] == 200
        assert _get(base + "api/activity?journal=0", {"Cookie": cookie})[0] == 200
        assert _get(base + "api/activity?journal=5", {"Cookie": cookie})[0] == 400


def test_a_journal_not_created_yet_is_shown_as_such(tmp_path: Path) -> None:
    with WatchServer([tmp_path / "later.sqlite"], port=0) as server:
        status, _, body = _get(server.url + "api/status")
    [entry] = json.loads(body)["journals"]
    assert status == 200 and entry["status"] is None and "no such file" in entry["error"]


def _timeless(status: dict) -> dict:
    """A `status --json` document less the ages, which count to the moment it was read."""
    return {key: value for key, value in status.items() if key not in ("heartbeat_age", "last_bar_age")}
