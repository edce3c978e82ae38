"""Dynamic batching: concurrent calls share onnxruntime runs and still get exactly their own rows."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from signalstack.core.errors import InvalidInput
from signalstack.core.model import OnnxModel
from signalstack.server import metrics
from signalstack.server.batching import Batchers
from signalstack.server.options import BatchPolicy


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> OnnxModel:
    return OnnxModel(tiny_model, name="batched", threads=1)


def _windows(model: OnnxModel, n: int, seed: int) -> dict[str, np.ndarray]:
    (info,) = model.inputs
    return {info.name: np.random.default_rng(seed).normal(size=(n, *info.shape)).astype(np.float32)}


def _batch_runs(model: OnnxModel) -> dict[float, float]:
    """Cumulative count of onnxruntime runs per batch-size bucket, from the metrics registry."""
    samples = metrics.BATCH.labels(model.name, str(model.version)).collect()[0].samples
    return {float(s.labels["le"]): s.value for s in samples if s.name.endswith("_bucket")}


def _queued(model: OnnxModel) -> float:
    """Windows waiting in `model`'s batching queue, from the metrics registry."""
    return metrics.QUEUE.labels(model.name, str(model.version)).collect()[0].samples[0].value


def _calls(
    batchers: Batchers, model: OnnxModel, inputs: list[dict[str, np.ndarray]], in_turn: bool = False
) -> tuple[list[dict[str, np.ndarray]], list[float]]:
    """Each call's results and seconds waited, every call on a thread of its own. `in_turn`: each starts once
    the windows of those before it are queued, so the first callers take the turns and later ones queue."""
    results: list[dict[str, np.ndarray] | BaseException | None] = [None] * len(inputs)
    waited = [0.0] * len(inputs)

    def call(i: int) -> None:
        started = time.monotonic()
        try:
            results[i] = batchers.predict(model, inputs[i])
        except BaseException as exc:  # recorded, re-raised in the test thread
            results[i] = exc
        waited[i] = time.monotonic() - started

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    queued = _queued(model)
    for thread, x in zip(threads, inputs):
        thread.start()
        queued += len(next(iter(x.values())))
        deadline = time.monotonic() + 10
        while in_turn and _queued(model) < queued and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a batched call never returned"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results, waited  # type: ignore[return-value]


@pytest.mark.parametrize("instances", [1, 2])
def test_a_full_batch_runs_once_at_once_and_every_caller_gets_its_rows(model: OnnxModel, instances: int) -> None:
    # A 30 s delay with a batch size the four callers fill exactly: the batch runs as the last one arrives,
    # and every caller returns then, a lead waiting out the delay for a call another lead ran included.
    batchers = Batchers(BatchPolicy(max_batch_size=7, max_delay_us=30_000_000, instances=instances))
    inputs = [_windows(model, n, seed) for seed, n in enumerate((1, 2, 3, 1))]
    before = _batch_runs(model)
    results, waited = _calls(batchers, model, inputs, in_turn=True)
    after = _batch_runs(model)
    assert max(waited) < 5.0, f"callers waited {[round(w, 2) for w in waited]} s for a full batch"
    for x, got in zip(inputs, results):
        np.testing.assert_allclose(got["probabilities"], model.predict(x)["probabilities"], rtol=1e-5, atol=1e-6)
    runs = {le: after[le] - before.get(le, 0) for le in after}
    assert runs[8.0] - runs[4.0] == 1 and runs[float("inf")] == 1, runs  # one run of 7 windows


def test_a_batch_short_of_full_waits_out_the_delay(model: OnnxModel) -> None:
    batchers = Batchers(BatchPolicy(max_batch_size=8, max_delay_us=300_000))
    inputs = [_windows(model, n, seed) for seed, n in enumerate((1, 2))]
    results, waited = _calls(batchers, model, inputs, in_turn=True)
    assert 0.25 < min(waited) and max(waited) < 5.0, waited
    assert [len(r["probabilities"]) for r in results] == [1, 2]


@pytest.mark.parametrize("policy", [BatchPolicy(4, instances=1), BatchPolicy(4), BatchPolicy(5, 200, instances=3)])
def test_many_concurrent_callers_get_their_own_results(model: OnnxModel, policy: BatchPolicy) -> None:
    batchers = Batchers(policy)
    inputs = [_windows(model, 1 + i % 3, seed=i) for i in range(48)]
    for x, got in zip(inputs, _calls(batchers, model, inputs)[0]):
        np.testing.assert_allclose(got["probabilities"], model.predict(x)["probabilities"], rtol=1e-5, atol=1e-6)


def test_batching_off_calls_the_model_directly(model: OnnxModel) -> None:
    x = _windows(model, 3, seed=0)
    got = Batchers(BatchPolicy(max_batch_size=1)).predict(model, x)
    assert np.array_equal(got["probabilities"], model.predict(x)["probabilities"])


def test_a_bad_shape_is_refused_before_it_joins_a_batch(model: OnnxModel) -> None:
    with pytest.raises(InvalidInput, match=r"input 'features' of shape \[1, 3, 21\]: expected \[N >= 1, 20, 21\]"):
        Batchers().predict(model, {"features": np.zeros((1, 3, 21), np.float32)})


def test_policies_apply_per_model() -> None:
    batchers = Batchers(BatchPolicy(32, 0), {"slow": BatchPolicy.parse("128:2000")})
    assert batchers.policy("slow") == BatchPolicy(128, 2000)
    assert batchers.policy("other") == BatchPolicy(32, 0)
    assert BatchPolicy.parse("16") == BatchPolicy(16, 0)
    assert BatchPolicy.parse("16:0:1") == BatchPolicy(16, 0, instances=1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "batching '0': max_batch_size: 0, expected >= 1"),
        ("8:-5", "max_delay_us: -5, expected >= 0"),
        ("8:0:0", "instances: 0, expected >= 1"),
        ("8:0:1:2", "4 fields"),
        ("big", "expected integers MAX_BATCH_SIZE"),
    ],
)
def test_bad_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchPolicy.parse(text)


def test_a_model_dropped_after_its_calls_is_freed(tiny_model: Path) -> None:
    batchers = Batchers(BatchPolicy(4))
    model = OnnxModel(tiny_model, name="dropped")
    _calls(batchers, model, [_windows(model, 1, seed) for seed in range(6)])
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None, "the batching queue kept an unloaded model alive"
