"""Export a trained `SignalNet` to one self-describing ONNX file, checked against torch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from signalstack.core.card import METADATA_KEY, ModelCard
from signalstack.core.errors import SignalstackError

from .network import SignalNet
from .train import predict
from .windows import Arrays, as_named

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-5
OPSET = 18


class ExportError(SignalstackError, RuntimeError):
    """The exported graph does not reproduce the torch model."""


def export_onnx(net: SignalNet, card: ModelCard, path: Path, sample: Arrays) -> float:
    """Write `net` to `path` with the card in its metadata; returns the parity error on `sample`.

    Inputs and outputs are named as in the card (which must match the net's); every input's
    batch axis is dynamic. `sample` is an array for a single-input net, else {input name: array}.
    Raises `ExportError` when onnxruntime and torch differ by more than PARITY_TOLERANCE on any
    output for any sample (use real samples, not noise).
    """
    inputs, outputs = [i.name for i in card.inputs], [o.name for o in card.outputs]
    if inputs != list(net.input_names) or outputs != list(net.output_names):
        raise ValueError(
            f"card inputs {inputs} / outputs {outputs}: expected the net's "
            f"{list(net.input_names)} / {list(net.output_names)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = as_named(sample, inputs[0])
    model = onnx_graph(net, arrays)
    onnx.helper.set_model_props(model, {METADATA_KEY: card.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    error = parity_error(net, path, sample)
    if not error <= PARITY_TOLERANCE:
        path.unlink()
        raise ExportError(
            f"{path.name}: onnxruntime differs from torch by {error:.3g} on {len(arrays[inputs[0]])} "
            f"samples (expected <= {PARITY_TOLERANCE:g}); file removed"
        )
    log.info("exported %s (parity %.2g on %d samples)", path, error, len(arrays[inputs[0]]))
    return error


def onnx_graph(net: SignalNet, sample: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """`net` traced to ONNX with its input and output names and a dynamic batch axis; no metadata."""
    net = net.cpu().eval()
    examples = tuple(
        torch.as_tensor(np.ascontiguousarray(sample[name][:8]), dtype=torch.float32) for name in net.input_names
    )
    batch = torch.export.Dim("batch", min=1)
    # The exporter prints its progress to stdout and warns and logs about its own internals (e.g.
    # torchvision ops it skips); none is actionable for a user, and a failure still raises.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                net,
                examples,
                input_names=list(net.input_names),
                output_names=list(net.output_names),
                dynamic_shapes=(tuple({0: batch} for _ in examples),),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    model = program.model_proto
    # Each node carries the exporter's debugging notes (FX node, Python stack trace): in an
    # unrolled recurrent graph they outweigh the weights many times over, and serving never reads them.
    for graph in [model.graph, *(f for f in model.functions)]:
        for node in graph.node:
            del node.metadata_props[:]
    return model


def parity_error(net: SignalNet, path: Path, sample: Arrays) -> float:
    """Max absolute difference between torch and onnxruntime (CPU) outputs on `sample`, over all outputs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    arrays = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in as_named(sample, names[0]).items()}
    expected = as_named(predict(net, arrays), net.output_names[0])
    n = len(arrays[names[0]])
    runs = [
        session.run(list(net.output_names), {name: arrays[name][i : i + 512] for name in names})
        for i in range(0, n, 512)
    ]
    return max(
        float(np.abs(expected[name] - np.concatenate([r[k] for r in runs])).max())
        for k, name in enumerate(net.output_names)
    )
