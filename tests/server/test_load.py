"""Load: many concurrent clients for a fixed time, and model reloads under load, without one failed call.

Loops stop by themselves: each client stops at a deadline or after a fixed number of calls.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS
from signalstack.core.model import OnnxModel
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.server.repository import ModelRepository, Watcher
from signalstack.transport.client import SignalClient

from .support import bar_events, infer_request, install, running

SECONDS = 2.0
MAX_CALLS = 400


class Load:
    """Client threads calling until a deadline or MAX_CALLS each; counts outcomes and answering versions."""

    def __init__(self, target: str, calls: list[Callable[[SignalClient, grpc.Channel], int]], clients: int) -> None:
        self.target = target
        self.outcomes: Counter[str] = Counter()
        self.versions: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(calls[i % len(calls)],)) for i in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a client thread never finished"

    def _run(self, call: Callable[[SignalClient, grpc.Channel], int]) -> None:
        deadline = time.monotonic() + 60  # a backstop; the test stops the load much sooner
        with SignalClient(self.target, timeout=30) as client, grpc.insecure_channel(self.target) as channel:
            for _ in range(MAX_CALLS):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    version = call(client, channel)
                    outcome = "OK"
                except grpc.RpcError as error:
                    version, outcome = 0, f"{error.code().name}: {error.details()}"
                with self._lock:
                    self.outcomes[outcome] += 1
                    self.versions[version] += 1

    def wait(self, calls: int, seconds: float) -> None:
        """Block until `calls` calls finished or `seconds` passed."""
        deadline = time.monotonic() + seconds
        while sum(self.outcomes.values()) < calls and time.monotonic() < deadline:
            time.sleep(0.01)


def _calls(local: OnnxModel, sp500: pd.DataFrame) -> list[Callable[[SignalClient, grpc.Channel], int]]:
    """One Predict, one ModelInfer, one short stream: each returns the version that answered."""
    window = sp500.iloc[-local.bars_required :]
    x = local.featurizer.window(window)[np.newaxis].astype(np.float32)
    events = bar_events(sp500.iloc[: local.bars_required + 2])
    request = pb.PredictRequest(model="tiny", windows=[pb.Bars(**{c: window[c].tolist() for c in COLUMNS})])

    def predict(client: SignalClient, channel: grpc.Channel) -> int:
        return pb_grpc.SignalServiceStub(channel).Predict(request, timeout=30).version

    def infer(client: SignalClient, channel: grpc.Channel) -> int:
        return int(oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(infer_request(x), timeout=30).model_version)

    def stream(client: SignalClient, channel: grpc.Channel) -> int:
        return list(client.stream_signals(events))[-1].version

    return [predict, infer, predict, stream]


def test_concurrent_clients_for_a_fixed_time_have_no_failed_call(
    model_dir: Path, local: OnnxModel, sp500: pd.DataFrame
) -> None:
    with running(ModelRepository(model_dir), stream_threads=16) as server:
        with Load(f"127.0.0.1:{server.port}", _calls(local, sp500), clients=12) as load:
            time.sleep(SECONDS)
    assert set(load.outcomes) == {"OK"}, load.outcomes
    assert load.outcomes["OK"] >= 12


def test_reloads_under_load_have_no_failed_call(
    tmp_path: Path, tiny_model: Path, local: OnnxModel, sp500: pd.DataFrame
) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    repository = ModelRepository(tmp_path)
    watcher = Watcher(repository, interval=0.02)

    def settle(versions: list[int]) -> None:
        deadline = time.monotonic() + 30
        while repository.versions("tiny") != versions and time.monotonic() < deadline:
            time.sleep(0.01)
        assert repository.versions("tiny") == versions

    try:
        with (
            running(repository, stream_threads=16) as server,
            Load(f"127.0.0.1:{server.port}", _calls(local, sp500), clients=8) as load,
        ):
            load.wait(calls=10, seconds=30)
            install(tiny_model, tmp_path, "tiny", 2)
            settle([1, 2])
            load.wait(calls=sum(load.outcomes.values()) + 10, seconds=30)
            (tmp_path / "tiny" / "3").mkdir()
            (tmp_path / "tiny" / "3" / "model.onnx").write_bytes(b"corrupt: refused, v2 keeps serving")
            install(tiny_model, tmp_path, "tiny", 4)
            settle([1, 2, 4])
            shutil.rmtree(tmp_path / "tiny" / "1")
            settle([2, 4])
            load.wait(calls=sum(load.outcomes.values()) + 10, seconds=30)
            shutil.rmtree(tmp_path / "tiny" / "4")
            settle([2])
            load.wait(calls=sum(load.outcomes.values()) + 10, seconds=30)
    finally:
        watcher.stop()
    assert set(load.outcomes) == {"OK"}, load.outcomes
    assert {1, 2, 4} <= set(load.versions), load.versions
