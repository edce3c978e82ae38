"""Nets declared layer by layer: a YAML/JSON spec, checked completely before any training, built as torch.

A spec has `inputs` (name, shape without the batch axis), `layers` (a graph of named nodes:
type, params, inputs; or `shares: other` to reuse another node's layer and weights) and
`outputs` (the node, and optionally the ONNX output name, loss and loss weight). An optional
`serve` section names the subgraph to export, e.g. the ranking net's scorer. Building infers
every node's shape and rejects unknown types, shape mismatches and cycles, naming the layer.

    inputs:  [{name: features, shape: [60, 30]}]
    layers:
      - {name: rnn, type: LSTM, params: {units: 50}, inputs: [features]}
      - {name: out, type: Dense, params: {units: 3}, inputs: [rnn]}
    outputs: [{layer: out, loss: crossentropy}]
"""

from __future__ import annotations

import graphlib
import heapq
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pydantic_core
import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from signalstack.core.errors import SettingsError
from signalstack.core.settings import Settings, parse

from . import layers_conv, layers_recurrent  # noqa: F401  (register their layer types)
from .layers import Layer, Shape, ShapeError, make_layer

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
LOSSES = ("crossentropy", "binary_crossentropy", "mae", "mse")
CLASSIFICATION_LOSSES = ("crossentropy", "binary_crossentropy")
_LOSS_ALIASES = {
    "categorical_crossentropy": "crossentropy",
    "sparse_categorical_crossentropy": "crossentropy",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(SettingsError):
    """A spec that cannot be built; the message names the layer (or input, or output) at fault."""


class InputSpec(Settings):
    """A named input of the net."""

    name: str
    """The input's name, which layers list among their inputs."""
    shape: tuple[int | None, ...]
    """Its shape without the batch axis; null takes a size from the data."""
    scale: bool = True
    """false: the input reaches the net raw, not standardised."""


class LayerSpec(Settings):
    """A node of the graph: a layer of a type called on its inputs, or another node's layer called again."""

    name: str
    """The node's name, which later layers and outputs list."""
    shares: str = ""
    """Another node whose layer (and weights) this node calls; then `type` and `params` come from it."""
    type: str = ""
    """The layer type (Dense, LSTM, Conv1D, ...; `signalstack models` and the zoo's catalogue list them)."""
    params: dict[str, Any] = {}
    """The type's parameters (units, activation, ...), as Keras names them."""
    inputs: tuple[str, ...]
    """The inputs or nodes it is called on (one may be written without a list)."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _listed(cls, inputs: Any) -> Any:
        return (inputs,) if isinstance(inputs, str) else tuple(inputs) if isinstance(inputs, list) else inputs

    @field_validator("params", mode="before")
    @classmethod
    def _as_json(cls, params: Any) -> Any:
        """Plain JSON values (tuples as lists), so that a spec written in Python equals its document."""
        return pydantic_core.from_json(pydantic_core.to_json(params)) if isinstance(params, Mapping) else params

    @model_validator(mode="after")
    def _typed(self) -> LayerSpec:
        if self.shares and {"type", "params"} & self.model_fields_set:
            raise ValueError(
                f"layer {self.name!r} shares {self.shares!r}: its type and params come from there, give neither"
            )
        if not self.shares and not self.type:
            raise ValueError(f"layer {self.name!r}: needs a 'type' (or 'shares: <layer>')")
        return self


class OutputSpec(Settings):
    """A model output: its node, and the ONNX name and loss (both chosen from the labels when empty)."""

    layer: str
    """The node whose value the output is."""
    name: str = ""
    """The output's name in the ONNX file (probabilities, forecast, ...)."""
    loss: str = ""
    """crossentropy, binary_crossentropy, mae or mse (Keras' long names too)."""
    weight: float = Field(1.0, ge=0)
    """The loss's weight in the total, for a net with several outputs."""


class Spec(Settings):
    """A net declared layer by layer: its inputs, a graph of named layers, its outputs."""

    name: str = ""
    """The net's name (a spec file's stem when left out)."""
    inputs: tuple[InputSpec, ...] = Field(min_length=1)
    """The net's inputs, in the order the data gives them."""
    layers: tuple[LayerSpec, ...] = Field(min_length=1)
    """The graph's nodes, each after its inputs or not (a cycle is refused)."""
    outputs: tuple[OutputSpec, ...] = Field(min_length=1)
    """The net's outputs, in the order the labels take them."""
    serve: dict[str, dict[str, str]] = {}
    """{inputs: {served name: spec input}, outputs: {served name: node}}: the subgraph export writes (e.g. a
    ranking net's scorer); the whole net when left out."""

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "spec") -> Spec:
        """Parse a spec document; raises SettingsError naming `source`, each bad entry's path and what was expected."""
        return parse(cls, doc, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain YAML/JSON, as a card keeps it: defaults left out, but the name and every weight."""
        doc = {"name": self.name, **self.model_dump(mode="json", exclude_defaults=True)}
        for output, written in zip(self.outputs, doc["outputs"], strict=True):
            written["weight"] = output.weight
        return doc

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def with_shapes(self, shapes: Mapping[str, Sequence[int]]) -> Spec:
        """The spec with its inputs' None dimensions filled from `shapes`; other dimensions must agree."""
        if set(shapes) != set(self.input_names):
            raise SpecError(f"spec {self.name or ''} inputs {list(self.input_names)}: data has inputs {list(shapes)}")
        filled = []
        for spec in self.inputs:
            data = tuple(int(d) for d in shapes[spec.name])
            if len(data) != len(spec.shape) or any(s is not None and s != d for s, d in zip(spec.shape, data)):
                raise SpecError(
                    f"input {spec.name!r}: spec shape {list(spec.shape)}, data shape {data} "
                    "(use null for a size taken from the data)"
                )
            filled.append(spec.model_copy(update={"shape": data}))
        return self.model_copy(update={"inputs": tuple(filled)})


def is_spec_path(name: str | Path) -> bool:
    return str(name).lower().endswith(SPEC_SUFFIXES)


def load_spec(path: str | Path) -> Spec:
    """A spec from a .yaml/.yml/.json file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file (expected a {'/'.join(SPEC_SUFFIXES)} file)")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        doc = json.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text)
    if not isinstance(doc, Mapping):
        raise SpecError(f"{path}: expected a mapping with inputs, layers and outputs")
    spec = Spec.from_dict(doc, source=str(path))
    return spec if spec.name else spec.model_copy(update={"name": path.stem})


def canonical_loss(loss: str) -> str:
    loss = _LOSS_ALIASES.get(loss, loss)
    if loss and loss not in LOSSES:
        raise SpecError(f"loss {loss!r}: expected one of {', '.join(LOSSES)}")
    return loss


@dataclass(frozen=True)
class _Node:
    name: str
    key: str
    inputs: tuple[str, ...]


class SpecModel(nn.Module):
    """The torch module a spec builds: forward(*inputs in spec order) -> tuple of output tensors."""

    def __init__(
        self,
        spec: Spec,
        layers: Mapping[str, Layer],
        plan: Sequence[_Node],
        shapes: Mapping[str, Shape],
        outputs: Sequence[str],
        input_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict(layers)
        self.plan = tuple(plan)
        self.shapes = dict(shapes)
        self.input_names = tuple(input_names or spec.input_names)
        self.output_nodes = tuple(outputs)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = dict(zip(self.input_names, inputs))
        for node in self.plan:
            values[node.name] = self.layers[node.key](*(values[i] for i in node.inputs))
        return tuple(values[name] for name in self.output_nodes)

    def subgraph(self, inputs: Mapping[str, str], outputs: Sequence[str]) -> SpecModel:
        """The part of this net from `inputs` ({new name: input}) to `outputs`, sharing its weights."""
        renamed = {old: new for new, old in inputs.items()}
        needed = _ancestors(self.plan, outputs)
        plan = [replace(n, inputs=tuple(renamed.get(i, i) for i in n.inputs)) for n in self.plan if n.name in needed]
        missing = {i for n in plan for i in n.inputs} - {n.name for n in plan} - set(renamed.values())
        if missing:
            raise SpecError(f"serve outputs {list(outputs)} also read input(s) {sorted(missing)}: serve them too")
        keys = {n.key for n in plan}
        shapes = {renamed.get(k, k): v for k, v in self.shapes.items() if k in needed or k in renamed}
        return SpecModel(
            self.spec, {k: m for k, m in self.layers.items() if k in keys}, plan, shapes, outputs, tuple(inputs)
        )


def _ancestors(plan: Sequence[_Node], outputs: Sequence[str]) -> set[str]:
    parents = {n.name: n.inputs for n in plan}
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(parents.get(name, ()))
    return seen


def build(spec: Spec) -> SpecModel:
    """Check the spec end to end (names, graph, shapes, outputs) and build its torch module."""
    nodes = _check_names(spec)
    order = _topological(spec, nodes)
    needed = _ancestors(
        [_Node(n.name, n.name, n.inputs) for n in spec.layers],
        [o.layer for o in spec.outputs] + list(spec.serve.get("outputs", {}).values()),
    )
    unused = [n.name for n in spec.layers if n.name not in needed]
    if unused:
        raise SpecError(f"layer {unused[0]!r} feeds no output")
    shapes: dict[str, Shape] = {}
    for i in spec.inputs:
        if any(d is None or d < 1 for d in i.shape):
            raise SpecError(f"input {i.name!r}: shape {list(i.shape)} has unknown sizes (expected positive ints)")
        shapes[i.name] = tuple(int(d) for d in i.shape)
    layers: dict[str, Layer] = {}
    plan = []
    for name in order:
        node = nodes[name]
        owner = nodes[_owner(node, nodes)]
        in_shapes = [shapes[i] for i in node.inputs]
        where = f"layer {name!r} ({owner.type}{', shares ' + repr(owner.name) if owner is not node else ''})"
        try:
            if owner.name not in layers:
                layers[owner.name] = make_layer(owner.type, in_shapes, owner.params)
            shapes[name] = layers[owner.name].output_shape(in_shapes)
        except (ShapeError, ValueError, TypeError) as exc:
            raise SpecError(f"{where}: {exc}") from None
        plan.append(_Node(name, owner.name, node.inputs))
    _check_outputs(spec, nodes, shapes)
    return SpecModel(spec, layers, plan, shapes, [o.layer for o in spec.outputs])


def _check_names(spec: Spec) -> dict[str, LayerSpec]:
    names = [i.name for i in spec.inputs] + [n.name for n in spec.layers]
    for name in names:
        if not _NAME.match(name):
            raise SpecError(f"name {name!r}: expected letters, digits and underscores, not starting with a digit")
        if hasattr(nn.ModuleDict, name):
            raise SpecError(f"name {name!r} is reserved by torch.nn.ModuleDict: choose another")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SpecError(f"layer {name!r}: the name is used twice")
        seen.add(name)
    nodes = {n.name: n for n in spec.layers}
    for node in spec.layers:
        if not node.inputs:
            raise SpecError(f"layer {node.name!r}: no inputs")
        for i in node.inputs:
            if i not in seen:
                raise SpecError(f"layer {node.name!r}: input {i!r} is neither a spec input nor a layer")
        if node.shares and node.shares not in nodes:
            raise SpecError(f"layer {node.name!r} shares {node.shares!r}, which is not a layer")
    return nodes


def _owner(node: LayerSpec, nodes: Mapping[str, LayerSpec]) -> str:
    """The node that defines the layer `node` calls, following chains of `shares`."""
    seen = [node.name]
    while node.shares:
        node = nodes[node.shares]
        if node.name in seen:
            raise SpecError(f"layer {seen[0]!r}: 'shares' loops through {' -> '.join(seen + [node.name])}")
        seen.append(node.name)
    return node.name


def _topological(spec: Spec, nodes: Mapping[str, LayerSpec]) -> list[str]:
    """Nodes in an order where every node follows its inputs; a cycle is named."""
    sorter = graphlib.TopologicalSorter({n.name: [i for i in n.inputs if i in nodes] for n in spec.layers})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]  # each node followed by an input it reads, as the spec's arrows go
        raise SpecError(f"layer {cycle[0]!r} is in a cycle: {' -> '.join(cycle)}") from None
    position = {n.name: k for k, n in enumerate(spec.layers)}
    order: list[str] = []
    ready: list[tuple[int, str]] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        # The earliest-listed ready node first: a spec written in order keeps its order.
        _, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
    return order


def _check_outputs(spec: Spec, nodes: Mapping[str, LayerSpec], shapes: Mapping[str, Shape]) -> None:
    served = spec.serve.get("inputs", {})
    for name in served.values():
        if name not in spec.input_names:
            raise SpecError(f"serve input {name!r}: not a spec input (expected one of {list(spec.input_names)})")
    for name in spec.serve.get("outputs", {}).values():
        if name not in nodes:
            raise SpecError(f"serve output {name!r}: not a layer")
    names = [o.name for o in spec.outputs if o.name]
    if len(set(names)) != len(names):
        raise SpecError(f"outputs {names}: names must differ")
    for out in spec.outputs:
        if out.layer not in nodes:
            raise SpecError(f"output {out.name or out.layer!r}: layer {out.layer!r} is not a layer")
        loss = canonical_loss(out.loss)
        owner = nodes[_owner(nodes[out.layer], nodes)]
        activation = owner.params.get("activation", "linear")
        if loss in CLASSIFICATION_LOSSES and activation in ("softmax", "sigmoid"):
            raise SpecError(
                f"layer {out.layer!r} is an output with loss {loss} and ends in {activation}: "
                "the exported head applies it; give the layer a linear activation"
            )


class SpecBuilder:
    """Writes specs in Python: `add` returns the new node's name, so graphs read like Keras' functional API."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._inputs: list[InputSpec] = []
        self._layers: list[LayerSpec] = []
        self._outputs: list[OutputSpec] = []
        self._counts: dict[str, int] = {}

    def input(self, name: str, shape: Sequence[int]) -> str:
        self._inputs.append(InputSpec(name=name, shape=tuple(int(d) for d in shape)))
        return name

    def add(self, kind: str, inputs: str | Sequence[str], name: str = "", **params: Any) -> str:
        name = name or self._auto(kind)
        self._layers.append(LayerSpec(name=name, type=kind, inputs=inputs, params=params))
        return name

    def share(self, layer: str, inputs: str | Sequence[str], name: str = "") -> str:
        """Call the layer of node `layer` again, with the same weights, on other inputs."""
        name = name or f"{layer}_shared"
        self._layers.append(LayerSpec(name=name, shares=layer, inputs=inputs))
        return name

    def output(self, layer: str, name: str = "", loss: str = "", weight: float = 1.0) -> None:
        self._outputs.append(OutputSpec(layer=layer, name=name, loss=loss, weight=weight))

    def spec(self, serve: Mapping[str, Mapping[str, str]] | None = None) -> Spec:
        return Spec(inputs=self._inputs, layers=self._layers, outputs=self._outputs, name=self.name, serve=serve or {})

    def _auto(self, kind: str) -> str:
        base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", kind).lower()
        self._counts[base] = self._counts.get(base, 0) + 1
        return f"{base}_{self._counts[base]}"
