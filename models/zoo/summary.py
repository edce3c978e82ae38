"""`summary`: a Keras-style table of a spec-built net, with torch's and Keras' parameter counts side by side."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from .layers import BatchNormalization
from .layers_recurrent import Recurrent
from .registry import Outputs, create_model, get_entry
from .spec import SpecError, SpecModel, is_spec_path, load_spec

_NOTES = {
    Recurrent: "SimpleRNN/LSTM: torch keeps two bias vectors per gate (input and recurrent), Keras one; "
    "GRU matches Keras' reset_after=True, which has two.",
    BatchNormalization: "BatchNormalization: Keras also counts the moving mean and variance (non-trainable); "
    "torch keeps them as buffers.",
}


def summary(
    model: nn.Module | str | Path,
    inputs: Mapping[str, tuple[int, ...]] | None = None,
    n_outputs: Outputs | None = None,
    **params: Any,
) -> str:
    """Layer, output shape, parameters (torch and Keras-equivalent) and inputs of each node, as text.

    `model` is a built net (a SpecModel or a SignalNet around one), a registered name (input
    shapes and outputs default to the reference post's) or a spec file (its own shapes).
    """
    net = _spec_model(model, inputs, n_outputs, params)
    owners = {layer.name: layer for layer in net.spec.layers}
    rows = [(f"{name} (Input)", _shape(net.shapes[name]), 0, 0, "") for name in net.input_names]
    for node in net.plan:
        module = net.layers[node.key]
        kind = _kind(owners[node.key].type, owners[node.key].params)
        own = node.name == node.key
        label = f"{node.name} ({kind})" if own else f"{node.name} ({kind}, shares {node.key})"
        rows.append(
            (
                label,
                _shape(net.shapes[node.name]),
                _count(module) if own else 0,
                module.keras_params() if own else 0,
                ", ".join(node.inputs),
            )
        )
    table = _format(rows)
    width = len(table[0])
    total = sum(_count(m) for m in net.layers.values())
    keras = sum(m.keras_params() for m in net.layers.values())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    lines = [
        f"Model: {net.spec.name or 'spec'}",
        *table[:1],
        "=" * width,
        *table[1:],
        "=" * width,
        f"Total params: {total:,} (torch)   {keras:,} (Keras-equivalent)",
        f"Trainable params: {trainable:,}",
        f"Outputs: {', '.join(net.output_nodes)}",
    ]
    notes = [text for kind, text in _NOTES.items() if any(isinstance(m, kind) for m in net.modules())]
    if total != keras and notes:
        lines += ["Notes (torch vs Keras parameter counts):", *(f"  * {n}" for n in notes)]
    return "\n".join(lines)


def _spec_model(
    model: nn.Module | str | Path,
    inputs: Mapping[str, tuple[int, ...]] | None,
    n_outputs: Outputs | None,
    params: Mapping[str, Any],
) -> SpecModel:
    if isinstance(model, nn.Module):
        body = getattr(model, "body", model)
        if not isinstance(body, SpecModel):
            raise TypeError(
                f"summary of {type(model).__name__}: expected a net built from a spec "
                "(create_model, a spec file, or a SignalNet around one)"
            )
        return body
    if is_spec_path(model):
        spec = load_spec(model)
        shapes = inputs or {i.name: i.shape for i in spec.inputs}
        if any(d is None for shape in shapes.values() for d in shape):
            raise SpecError(f"{model}: input sizes left to the data (null): pass inputs={{name: shape}}")
        return create_model(model, shapes)
    entry = get_entry(str(model))
    return create_model(
        str(model), inputs or entry.inputs, entry.n_outputs if n_outputs is None else n_outputs, **params
    )


def _kind(kind: str, params: Mapping[str, Any]) -> str:
    inner = params.get("layer")
    return f"{kind}({inner['type']})" if isinstance(inner, Mapping) and "type" in inner else kind


def _shape(shape: tuple[int, ...]) -> str:
    return "(None, " + ", ".join(map(str, shape)) + ")"


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _format(rows: list[tuple[str, str, int, int, str]]) -> list[str]:
    header = ("Layer (type)", "Output shape", "Param #", "Keras #", "Connected to")
    cells = [header] + [(a, b, f"{c:,}", f"{d:,}", e) for a, b, c, d, e in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    return [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d:>{widths[3]}}  {e}".rstrip()
        for a, b, c, d, e in cells
    ]
