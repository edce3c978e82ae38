"""Every zoo architecture at its post's sizes: parameters, ONNX size, onnxruntime vs torch eager latency.

    python bench/zoo.py [--models lstm,cnn1d] [--repeats 200] [--threads 2]

Both runtimes run in this process on the CPU with the same thread count; latency is the median
of `repeats` calls after warm-up, at batch 1 and batch 64. Weights are untrained (latency does
not depend on them); each exported graph is checked against torch before it is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from signalstack.core.scaler import Scaler
from signalstack.models.export import onnx_graph
from signalstack.models.network import Head, SignalNet
from signalstack.models.zoo import create_model, get_entry, list_models
from signalstack.models.zoo.spec import CLASSIFICATION_LOSSES, canonical_loss


def serving_net(name: str) -> SignalNet:
    """The net `name` serves, at its post's shapes, with unit scalers and heads from its spec."""
    entry = get_entry(name)
    body = create_model(name, entry.inputs, entry.n_outputs)
    heads = []
    for out in body.spec.outputs:
        loss = canonical_loss(out.loss) or "crossentropy"
        heads.append(Head(out.name or ("probabilities" if loss in CLASSIFICATION_LOSSES else "forecast"), loss))
    scalers = {n: Scaler(np.zeros(s[-1:], "float32"), np.ones(s[-1:], "float32")) for n, s in entry.inputs.items()}
    return SignalNet(body, scalers, heads).eval().for_serving()


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(max(3, repeats // 10)):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench(name: str, folder: Path, repeats: int, threads: int) -> dict[str, float]:
    net = serving_net(name)
    shapes = {n: net.body.shapes[n] for n in net.input_names}
    rng = np.random.default_rng(0)
    sample = {n: rng.normal(size=(64, *s)).astype("float32") for n, s in shapes.items()}
    path = folder / f"{name}.onnx"
    onnx.save(onnx_graph(net, sample), str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    row = {
        "params": sum(p.numel() for p in net.parameters()),
        "keras": sum(m.keras_params() for m in net.body.layers.values()),
        "kb": path.stat().st_size / 1024,
    }
    with torch.inference_mode():
        expected = net(*(torch.from_numpy(sample[n]) for n in net.input_names))
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = session.run(None, sample)
    row["parity"] = max(float(np.abs(e.numpy() - g).max()) for e, g in zip(expected, got))
    for batch in (1, 64):
        feed = {n: np.ascontiguousarray(a[:batch]) for n, a in sample.items()}
        tensors = [torch.from_numpy(feed[n]) for n in net.input_names]
        row[f"ort_{batch}"] = median_ms(lambda feed=feed: session.run(None, feed), repeats)
        with torch.inference_mode():
            row[f"torch_{batch}"] = median_ms(lambda tensors=tensors: net(*tensors), repeats)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(list_models()), help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="intra-op threads for both runtimes (default: torch's)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    header = (
        f"{'model':<20} {'params':>9} {'keras':>9} {'onnx KB':>8} {'parity':>8} "
        f"{'ort b1 ms':>9} {'torch b1':>9} {'x':>5} {'ort b64':>9} {'torch b64':>9} {'x':>5}"
    )
    print(
        f"onnxruntime {ort.__version__}, torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}"
    )
    print(header)
    print("-" * len(header))
    slower = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            r = bench(name, Path(folder), args.repeats, args.threads)
            print(
                f"{name:<20} {r['params']:>9,} {r['keras']:>9,} {r['kb']:>8.1f} {r['parity']:>8.1e} "
                f"{r['ort_1']:>9.3f} {r['torch_1']:>9.3f} {r['torch_1'] / r['ort_1']:>5.1f} "
                f"{r['ort_64']:>9.3f} {r['torch_64']:>9.3f} {r['torch_64'] / r['ort_64']:>5.1f}",
                flush=True,
            )
            if r["ort_1"] >= r["torch_1"]:
                slower.append(name)
    if slower:
        print(f"onnxruntime not faster than torch eager at batch 1 for: {', '.join(slower)}")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
