"""Export a trained `SignalNet` to one self-describing ONNX file, checked against torch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .card import METADATA_KEY, ModelCard
from .network import SignalNet
from .train import predict

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-5
OPSET = 18


class ExportError(RuntimeError):
    """The exported graph does not reproduce the torch model."""


def export_onnx(net: SignalNet, card: ModelCard, path: Path, sample: np.ndarray) -> float:
    """Write `net` to `path` with the card in its metadata; returns the parity error on `sample`.

    The batch axis is dynamic. Raises `ExportError` when onnxruntime and torch differ by more
    than PARITY_TOLERANCE on any of the sample windows (use real windows, not noise).
    """
    if len(card.inputs) != 1 or len(card.outputs) != 1:
        raise ValueError(f"export of {len(card.inputs)} inputs / {len(card.outputs)} outputs: "
                         "expected one of each")
    net = net.cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(np.ascontiguousarray(sample[: min(len(sample), 8)]))
    batch = torch.export.Dim("batch", min=1)
    # The exporter prints its progress to stdout and warns about its own internals; neither is
    # actionable for a user, and a failure still raises.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net, (example,), input_names=[card.inputs[0].name], output_names=[card.outputs[0].name],
            dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, verbose=False)
    model = program.model_proto
    onnx.helper.set_model_props(model, {METADATA_KEY: card.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    error = parity_error(net, path, sample)
    if not error <= PARITY_TOLERANCE:
        path.unlink()
        raise ExportError(f"{path.name}: onnxruntime differs from torch by {error:.3g} on {len(sample)} "
                          f"windows (expected <= {PARITY_TOLERANCE:g}); file removed")
    log.info("exported %s (parity %.2g on %d windows)", path, error, len(sample))
    return error


def parity_error(net: SignalNet, path: Path, sample: np.ndarray) -> float:
    """Max absolute difference between torch and onnxruntime (CPU) outputs on `sample`."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    expected = predict(net, sample)
    got = np.concatenate([session.run(None, {name: sample[i:i + 512]})[0] for i in range(0, len(sample), 512)])
    return float(np.abs(expected - got).max())
