"""Paper runs on signals from `signalstack serve`: parity with the model in process, stale-signal gaps
while the server is gone, reconnection with the history re-sent, a new version picked up, resume."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.bars import COLUMNS
from signalstack.paper.config import StalePolicy
from signalstack.paper.events import ModelChange
from signalstack.paper.journal import KILL_AFTER_ENV, Journal
from signalstack.paper.kill_switch import request_stop
from signalstack.paper.runner import PaperConfig, PaperResult, run_paper
from signalstack.paper.signals import TIMEOUT, UNAVAILABLE, Backoff, StreamSource
from signalstack.paper.status import fills_frame, format_status, read_status
from signalstack.plugin.settings import TradingSettings
from signalstack.plugin.sources import OnnxSource
from signalstack.server.app import SignalServer
from signalstack.server.options import ServeOptions
from signalstack.server.repository import ModelRepository
from signalstack.transport.security import ClientSecurity, TlsFiles

from ..server.support import TOKEN, install, make_pki
from ..support import SMALL, free_port, handmade_model, walk_with_flat_volume
from .support import BARS, START_BAR, journal_count, journal_events, signalstack, wait_for

COSTS = {"cash": 50_000.0, "commission": 0.002, "slippage": 0.001}
LIVE_BARS = BARS - START_BAR


class StallingRepository(ModelRepository):
    """A real model repository whose lookups can be held up by `stall` seconds: a server that is up but
    slow to answer (the servicer looks the model up for every streamed bar)."""

    stall = 0.0

    def get(self, name: str, version: int = 0) -> Any:
        time.sleep(self.stall)
        return super().get(name, version)


@contextmanager
def serving(root: Path, port: int, repository: ModelRepository | None = None) -> Iterator[SignalServer]:
    """`signalstack serve`'s server over the model folder `root` on 127.0.0.1:`port`, stopped on exit."""
    with SignalServer(ServeOptions(root, port=port, grace=0), repository) as server:
        yield server


@pytest.fixture
def models(tmp_path: Path, paper_model: Path) -> Path:
    """A model folder serving the paper model as quick v1."""
    install(paper_model, tmp_path / "models", "quick", 1)
    return tmp_path / "models"


@pytest.fixture(scope="module")
def strategy(thresholds: dict[str, float]) -> dict[str, Any]:
    return {**thresholds, "allow_short": True, "stake": 0.9}


@pytest.fixture(scope="module")
def in_process(
    paper_model: Path, replay_csv: Path, start: str, strategy: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> PaperResult:
    """The reference: the same run with the model in process, uninterrupted."""
    return run_paper(
        PaperConfig(
            model=paper_model,
            feeds=[f"replay:{replay_csv}?pace=0&start={start}"],
            trading=TradingSettings(**strategy, **COSTS),
        ),
        tmp_path_factory.mktemp("reference") / "run.sqlite",
    )


def _in_thread(target: Callable[[], Any]) -> Callable[[float], Any]:
    """Start `target` in a thread; the returned function joins it (at most `timeout` s) and gives its result."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = target()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout: float) -> Any:
        thread.join(timeout)
        assert not thread.is_alive(), f"the run did not end within {timeout} s"
        if "error" in out:
            raise out["error"]
        return out["result"]

    return join


def _fills(result: PaperResult) -> pd.DataFrame:
    return result.fills.drop(columns="order_id")  # ids derive from the run id, which names the source


def test_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    backoff, rng = Backoff(base=0.5, cap=4.0, jitter=0.2), random.Random(7)
    assert backoff.delay(0, rng) == 0.0  # the first attempt after a stream breaks is immediate
    for failures, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (500, 4.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(0.8 * full <= d <= full for d in delays), (failures, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered
    with pytest.raises(ValueError, match="base 2.0, cap 1.0"):
        Backoff(base=2.0, cap=1.0)


def test_served_signals_trade_as_the_model_in_process(
    models: Path,
    paper_model: Path,
    replay_csv: Path,
    start: str,
    strategy: dict[str, Any],
    in_process: PaperResult,
    journal_dir: Path,
) -> None:
    with serving(models, free_port()) as server:
        served = run_paper(
            PaperConfig(
                model="quick",
                server=server.address,
                signal_timeout=10,
                feeds=[f"replay:{replay_csv}?pace=0&start={start}"],
                trading=TradingSettings(**strategy, **COSTS),
            ),
            journal_dir / "served.sqlite",
        )
    assert served.stopped == "feeds ended" and len(in_process.fills) >= 10
    pd.testing.assert_frame_equal(_fills(served), _fills(in_process), check_exact=True)
    pd.testing.assert_frame_equal(served.trades, in_process.trades, check_exact=True)
    pd.testing.assert_frame_equal(served.equity, in_process.equity, check_exact=True)
    signals = journal_events(served.journal, "signal")
    reference = journal_events(in_process.journal, "signal")
    assert len(signals) == LIVE_BARS
    assert [(e.time, e.payload.outputs) for e in signals] == [(e.time, e.payload.outputs) for e in reference]
    assert {(e.payload.model, e.payload.version) for e in signals} == {("quick", 1)}
    status = served.status.as_dict()
    assert status["server"] == server.address and status["stale_gaps"] == 0 and status["model_changes"] == []
    assert status["last_signal"][replay_csv.stem]["version"] == 1
    assert journal_events(served.journal, "config")[0].payload.server == server.address


def test_a_lost_server_costs_entries_on_stale_bars_only_and_its_new_version_is_picked_up(
    models: Path,
    paper_model: Path,
    replay_csv: Path,
    replay_bars: pd.DataFrame,
    start: str,
    strategy: dict[str, Any],
    journal_dir: Path,
) -> None:
    port, journal = free_port(), journal_dir / "outage.sqlite"
    config = PaperConfig(
        model="quick",
        server=f"127.0.0.1:{port}",
        signal_timeout=5,
        feeds=[f"replay:{replay_csv}?pace=0.05&start={start}"],
        trading=TradingSettings(**strategy, **COSTS),
    )
    server = SignalServer(ServeOptions(models, port=port, grace=0)).start()
    try:
        join = _in_thread(lambda: run_paper(config, journal))
        wait_for(lambda: journal_count(journal, "snapshot") >= 30, "30 live bars")
        server.stop(0)
        wait_for(lambda: journal_count(journal, "gap") >= 3, "stale-signal gaps while the server is gone", timeout=20)
        install(paper_model, models, "quick", 2)  # a second export: the restarted server serves v2 as newest
        server = SignalServer(ServeOptions(models, port=port, grace=0)).start()
        result = join(120)
    finally:
        server.stop(0)
    assert result.stopped == "feeds ended"
    events = journal_events(journal)
    of = {
        kind: [e for e in events if e.kind == kind]
        for kind in ("bar", "snapshot", "signal", "gap", "model", "decision")
    }
    assert len(of["bar"]) == BARS and len(of["snapshot"]) == LIVE_BARS  # no bar lost
    gaps = {e.time for e in of["gap"]}
    signalled = {e.time for e in of["signal"]}
    assert len(gaps) >= 3 and not gaps & signalled and gaps | signalled == {e.time for e in of["snapshot"]}
    assert {e.payload.why for e in of["gap"]} <= {UNAVAILABLE, TIMEOUT}
    assert not [e for e in of["decision"] if e.time in gaps and e.payload.reason == "signal"]  # no entry
    # Reconnected with the history re-sent: every signal, before and after the outage, is the model's own.
    p_up = OnnxSource(paper_model).predict_series(replay_bars)["up"]
    assert [e.payload.outputs["up"] for e in of["signal"]] == [
        float(np.float32(p_up[pd.Timestamp(e.time)])) for e in of["signal"]
    ]
    first_gap = min(gaps)
    assert {e.payload.version for e in of["signal"] if e.time < first_gap} == {1}
    after = [e for e in of["signal"] if e.time > max(gaps)]
    assert len(after) >= 20 and {e.payload.version for e in after} == {2}
    [change] = of["model"]
    first_v2 = min(e.time for e in of["signal"] if e.payload.version == 2)
    assert change.time == first_v2 > first_gap and change.payload == ModelChange("quick", 1, 2)
    status = read_status(journal).as_dict()
    assert status["stale_gaps"] == len(of["gap"]) and sum(status["gap_reasons"].values()) == len(of["gap"])
    assert status["model_changes"] == [{"symbol": replay_csv.stem, "time": first_v2, "from": 1, "to": 2}]
    assert status["last_signal"][replay_csv.stem]["version"] == 2
    text = format_status(read_status(journal))
    assert f"stale gaps {len(of['gap'])}" in text and "stale-signal gaps: unavailable" in text
    assert f"{replay_csv.stem}: model v1 -> v2 from bar {first_v2}" in text and f"from {config.server}" in text


def test_a_stopped_served_run_resumes_with_the_server(
    models: Path, replay_csv: Path, start: str, thresholds: dict[str, float], in_process: PaperResult, journal_dir: Path
) -> None:
    journal = journal_dir / "resumed.sqlite"
    flags = [
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--allow-short",
        "--stake",
        "0.9",
        *(f"--{k}={v}" for k, v in COSTS.items()),
    ]
    with serving(models, free_port()) as server:
        join = _in_thread(
            lambda: main(
                [
                    "paper",
                    "run",
                    "--server",
                    server.address,
                    "--model",
                    "quick",
                    "--signal-timeout",
                    "10",
                    "--feed",
                    f"replay:{replay_csv}?pace=0.02&start={start}",
                    "--journal",
                    str(journal),
                    *flags,
                ]
            )
        )
        wait_for(lambda: journal_count(journal, "snapshot") >= 40, "40 live bars")
        request_stop(journal)
        assert join(60) == 0
        assert journal_count(journal, "snapshot") < LIVE_BARS
        assert main(["paper", "resume", "--journal", str(journal)]) == 0
    status = read_status(journal)
    assert status.stopped.reason == "feeds ended" and status.gaps == []
    assert status.run.server == server.address and journal_count(journal, "resume") == 1
    signals = journal_events(journal, "signal")  # both sessions': every live bar scored by the server
    assert len(signals) == LIVE_BARS and {e.payload.version for e in signals} == {1}
    assert [e.payload.outputs["up"] for e in signals] == [
        e.payload.outputs["up"] for e in journal_events(in_process.journal, "signal")
    ]


def test_a_server_wanting_a_token_over_tls_is_reached_with_them_and_the_token_is_never_journaled(
    models: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    in_process: PaperResult,
    journal_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pki = make_pki(tmp_path)
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")
    port = free_port()
    journal = journal_dir / "secure.sqlite"
    flags = [
        "--server",
        f"127.0.0.1:{port}",
        "--model",
        "quick",
        "--signal-timeout",
        "10",
        "--feed",
        f"replay:{replay_csv}?pace=0.02&start={start}",
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--allow-short",
        "--stake",
        "0.9",
        *(f"--{k}={v}" for k, v in COSTS.items()),
        "--tls-ca",
        str(pki.ca),
        "--tls-cert",
        str(pki.client_cert),
        "--tls-key",
        str(pki.client_key),
    ]
    monkeypatch.delenv("SIGNALSTACK_TOKEN", raising=False)
    options = ServeOptions(
        models, port=port, grace=0, tls=TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca), token_file=tokens
    )  # TLS, client certificates and a bearer token: all three asked for
    with SignalServer(options):
        assert main(["paper", "run", *flags, "--journal", str(journal_dir / "refused.sqlite")]) == 1
        assert "UNAUTHENTICATED: missing bearer token" in capsys.readouterr().err
        monkeypatch.setenv("SIGNALSTACK_TOKEN", TOKEN)
        join = _in_thread(lambda: main(["paper", "run", *flags, "--journal", str(journal)]))
        wait_for(lambda: journal_count(journal, "snapshot") >= 40, "40 live bars")
        request_stop(journal)
        assert join(60) == 0
        monkeypatch.delenv("SIGNALSTACK_TOKEN")
        assert main(["paper", "resume", "--journal", str(journal)]) == 1
        assert "with a bearer token, which the journal does not keep" in capsys.readouterr().err
        assert main(["paper", "resume", "--journal", str(journal), "--token", TOKEN]) == 0
    config = journal_events(journal, "config")[0].payload
    assert config.token is True and config.tls_ca == str(pki.ca.resolve())
    assert not [f for f in journal_dir.iterdir() if TOKEN.encode() in f.read_bytes()]
    signals = journal_events(journal, "signal")  # both sessions', every live bar scored over TLS
    assert [e.payload.outputs["up"] for e in signals] == [
        e.payload.outputs["up"] for e in journal_events(in_process.journal, "signal")
    ]
    assert read_status(journal).stopped.reason == "feeds ended"


def test_tls_files_and_tokens_are_refused_without_a_server(
    paper_model: Path, replay_csv: Path, start: str, journal_dir: Path, tmp_path: Path
) -> None:
    feed = [f"replay:{replay_csv}?pace=0&start={start}"]
    with pytest.raises(ValueError, match="token, tls_ca: apply to signals from a server only"):
        run_paper(
            PaperConfig(
                model=paper_model, feeds=feed, security=ClientSecurity(token=TOKEN, tls_ca=tmp_path / "ca.pem")
            ),
            journal_dir / "local.sqlite",
        )
    with pytest.raises(ValueError, match="tls_cert .* and tls_key None: expected both or neither"):
        run_paper(
            PaperConfig(
                model="quick",
                server="127.0.0.1:1",
                feeds=feed,
                security=ClientSecurity(tls_ca=tmp_path / "ca.pem", tls_cert=tmp_path / "desk.pem"),
            ),
            journal_dir / "served.sqlite",
        )
    with pytest.raises(ValueError, match="ca.pem: cannot read it"):
        run_paper(
            PaperConfig(
                model="quick", server="127.0.0.1:1", feeds=feed, security=ClientSecurity(tls_ca=tmp_path / "ca.pem")
            ),
            journal_dir / "served.sqlite",
        )


def test_a_served_run_killed_mid_bar_resumes_on_a_new_version_to_the_uninterrupted_run(
    models: Path,
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    in_process: PaperResult,
    journal_dir: Path,
) -> None:
    journal = journal_dir / "crashed.sqlite"
    orders = [e.seq for e in journal_events(in_process.journal, "order")]
    kill = orders[len(orders) // 2]  # both runs journal the same events: killed once a bar's signal, decision and
    # order are committed, before the broker gets the order
    flags = [
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--allow-short",
        "--stake",
        "0.9",
        *(f"--{k}={v}" for k, v in COSTS.items()),
    ]
    port = free_port()
    with serving(models, port) as server:
        crashed = signalstack(
            [
                "paper",
                "run",
                "--server",
                server.address,
                "--model",
                "quick",
                "--feed",
                f"replay:{replay_csv}?start={start}",
                "--journal",
                str(journal),
                *flags,
            ],
            env={KILL_AFTER_ENV: str(kill)},
            check=False,
        )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    interrupted = journal_events(journal)[-1]
    assert interrupted.kind == "order"
    assert [e.payload.version for e in journal_events(journal, "signal") if e.time == interrupted.time] == [1]
    install(paper_model, models, "quick", 2)  # the server now serves v2 (a copy: the same predictions)
    with serving(models, port):
        signalstack(["paper", "resume", "--journal", str(journal)])
    with Journal(journal, readonly=True) as read:
        fills = fills_frame(read).drop(columns="order_id")
    pd.testing.assert_frame_equal(fills, _fills(in_process), check_exact=True)
    assert [(e.time, e.payload) for e in journal_events(journal, "snapshot")] == [
        (e.time, e.payload) for e in journal_events(in_process.journal, "snapshot")
    ]
    # The interrupted bar keeps its journaled v1 signal; v2 signals from the next bar on.
    versions = {e.time: e.payload.version for e in journal_events(journal, "signal")}
    assert {v for t, v in versions.items() if t <= interrupted.time} == {1}
    assert {v for t, v in versions.items() if t > interrupted.time} == {2}
    [change] = journal_events(journal, "model")
    assert change.time == min(t for t in versions if t > interrupted.time) and change.payload.version == 2
    assert read_status(journal).gaps == []


def test_a_late_signal_is_a_timeout_gap_and_the_next_bar_is_scored(
    paper_model: Path, models: Path, replay_bars: pd.DataFrame
) -> None:
    repository = StallingRepository(models)
    p_up = OnnxSource(paper_model).predict_series(replay_bars)["up"]
    bars = replay_bars[["open", "high", "low", "close", "volume"]].to_numpy()
    with (
        serving(models, free_port(), repository) as server,
        StreamSource(server.address, "quick", timeout=0.3).for_symbol("SPX") as source,
    ):
        scorer = source.live()
        needed = source.bars_required
        for i in range(needed - 1):
            assert scorer.push(replay_bars.index[i], bars[i], score=False) is None and scorer.gap is None
        now = replay_bars.index[needed - 1]
        assert scorer.push(now, bars[needed - 1])[1] == np.float32(p_up[now])
        repository.stall = 1.0
        started = time.monotonic()
        assert scorer.push(replay_bars.index[needed], bars[needed]) is None
        assert scorer.gap == TIMEOUT and time.monotonic() - started < 0.9  # the deadline, not the server's pace
        repository.stall = 0.0
        time.sleep(1.0)  # the stalled answer comes in meanwhile, late
        later = replay_bars.index[needed + 1]
        assert scorer.push(later, bars[needed + 1])[1] == np.float32(p_up[later])  # the late answer skipped
        assert scorer.gap is None and scorer.version == 1
        # Backtests of the source take one PredictSeries call: the model's own numbers, the first output's columns.
        pd.testing.assert_frame_equal(
            source.predict_series(replay_bars), OnnxSource(paper_model).predict_series(replay_bars), check_exact=True
        )


def test_served_signals_carry_every_output_as_the_model_in_process_does(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    path = handmade_model(tmp_path / "models" / "twin.onnx", SMALL, 6, forecast=True, seed=3)
    local = OnnxSource(path, threads=1)
    bars = walk_with_flat_volume(local.bars_required + 8, seed=22)
    with serving(tmp_path / "models", free_port()) as server, StreamSource(server.address, "twin") as served:
        assert served.columns == local.columns == ["down", "up", "forecast"]
        remote, here = served.for_symbol("X").live(), local.live()
        pairs = [(remote.push(t, row), here.push(t, row)) for t, row in zip(bars.index, bars[list(COLUMNS)].to_numpy())]
    scored = [(a, b) for a, b in pairs if b is not None]
    assert len(scored) == 9 and all(a is not None and a.shape == (3,) for a, _ in scored)
    np.testing.assert_allclose([a for a, _ in scored], [b for _, b in scored], rtol=1e-5, atol=1e-6)


def test_a_server_that_is_not_there_is_named_at_start(replay_csv: Path, start: str, journal_dir: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=target):
        run_paper(
            PaperConfig(model="quick", server=target, feeds=[f"replay:{replay_csv}?start={start}"]),
            journal_dir / "none.sqlite",
        )
    assert time.monotonic() - started < 15
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                "quick.onnx",
                "--signal-timeout",
                "1",
                "--feed",
                f"replay:{replay_csv}",
                "--journal",
                str(journal_dir / "x.sqlite"),
            ]
        )
        == 1
    )


@pytest.mark.parametrize("action", ["flatten", "hold"])
def test_a_symbol_without_fresh_signals_for_max_stale_bars_is_flattened_or_held_as_asked(
    models: Path, replay_csv: Path, start: str, strategy: dict[str, Any], journal_dir: Path, action: str
) -> None:
    port, journal, symbol = free_port(), journal_dir / f"stale-{action}.sqlite", replay_csv.stem
    config = PaperConfig(
        model="quick",
        server=f"127.0.0.1:{port}",
        signal_timeout=5,
        feeds=[f"replay:{replay_csv}?pace=0.05&start={start}"],
        trading=TradingSettings(**strategy, **COSTS),
        stale=StalePolicy(max_stale=3, on_stale=action),
    )
    server = SignalServer(ServeOptions(models, port=port, grace=0)).start()
    try:
        join = _in_thread(lambda: run_paper(config, journal))
        wait_for(lambda: journal_count(journal, "fill") >= 1, "a position")
        server.stop(0)  # and it stays down: every later bar is a stale-signal gap
        result = join(120)
    finally:
        server.stop(0)
    assert result.stopped == "feeds ended"
    events = journal_events(journal)
    gaps = [e.time for e in events if e.kind == "gap"]
    [stale] = [e for e in events if e.kind == "stale"]  # once for the whole outage
    assert stale.time == gaps[2] and stale.payload.bars == 3 and stale.payload.action == action
    assert stale.payload.since == max(e.time for e in events if e.kind == "signal" and e.time < gaps[0])
    assert stale.payload.position != 0
    positions = {e.time: e.payload.position[0] for e in events if e.kind == "snapshot"}
    decisions = [e for e in events if e.kind == "decision" and e.time >= gaps[0]]
    assert not [d for d in decisions if d.payload.reason == "signal"]  # no entry without a signal
    if action == "flatten":
        assert [(d.time, d.payload.reason) for d in decisions] == [(stale.time, "stale")]
        assert all(size == 0 for time, size in positions.items() if time > stale.time)  # closed at the next open
    else:
        assert decisions == [] and positions[max(positions)] == stale.payload.position
    status = read_status(journal)
    assert status.as_dict()["stale_actions"] == [
        {
            "symbol": symbol,
            "time": stale.time,
            "bars": 3,
            "action": action,
            "position": stale.payload.position,
            "since": stale.payload.since,
        }
    ]
    assert f"{symbol}: 3 bars without a fresh signal on {stale.time} UTC: {action}" in format_status(status)
