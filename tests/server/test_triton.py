"""export_triton: a Triton model repository with the same ONNX files, one config.pbtxt per model.

Every config.pbtxt written here is also parsed with Triton's own ``ModelConfig`` message (from
``tritonclient``, which the test extra installs), so the export is checked against Triton's schema.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from signalstack.server.options import BatchPolicy
from signalstack.server.triton import export_triton, triton_config

from .support import install
from .triton_support import triton_model_config

CONFIG = """name: "tiny"
platform: "onnxruntime_onnx"
max_batch_size: 64
version_policy: { all { } }
input [
  {
    name: "features"
    data_type: TYPE_FP32
    dims: [ 20, 21 ]
  }
]
output [
  {
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ 2 ]
  }
]
dynamic_batching {
  max_queue_delay_microseconds: 100
}
"""


def test_export_writes_configs_and_version_folders(tmp_path: Path, tiny_model: Path) -> None:
    models = tmp_path / "models"
    install(tiny_model, models, "tiny", 1)
    install(tiny_model, models, "tiny", 3)
    install(tiny_model, models, "single")
    written = export_triton(models, tmp_path / "triton")
    out = tmp_path / "triton"
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "single/1/model.onnx",
        "single/config.pbtxt",
        "tiny/1/model.onnx",
        "tiny/3/model.onnx",
        "tiny/config.pbtxt",
    ]
    assert (out / "tiny" / "config.pbtxt").read_text() == CONFIG
    assert (out / "single" / "config.pbtxt").read_text() == CONFIG.replace('"tiny"', '"single"')
    assert (out / "tiny" / "3" / "model.onnx").read_bytes() == tiny_model.read_bytes()
    for config in out.glob("*/config.pbtxt"):
        parsed = triton_model_config(config.read_text())
        if parsed is None:  # test_grpc_versions.py's runs: no Triton package
            continue
        assert (parsed.name, parsed.platform, parsed.max_batch_size) == (config.parent.name, "onnxruntime_onnx", 64)
        assert parsed.version_policy.HasField("all")
        assert [(i.name, _datatype(i), list(i.dims)) for i in parsed.input] == [("features", "TYPE_FP32", [20, 21])]
        assert [(o.name, _datatype(o), list(o.dims)) for o in parsed.output] == [("probabilities", "TYPE_FP32", [2])]
        assert parsed.dynamic_batching.max_queue_delay_microseconds == 100


def test_export_without_batching_spells_out_the_batch_axis(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path / "models", "tiny")
    export_triton(tmp_path / "models", tmp_path / "triton", batching=BatchPolicy(max_batch_size=1))
    config = (tmp_path / "triton" / "tiny" / "config.pbtxt").read_text()
    assert "max_batch_size: 0\n" in config and "dims: [ -1, 20, 21 ]" in config and "dims: [ -1, 2 ]" in config
    assert "dynamic_batching" not in config
    parsed = triton_model_config(config)
    if parsed is not None:
        assert parsed.max_batch_size == 0 and not parsed.HasField("dynamic_batching")
        assert [list(i.dims) for i in parsed.input] == [[-1, 20, 21]]
        assert [list(o.dims) for o in parsed.output] == [[-1, 2]]


def _datatype(tensor: object) -> str:
    """The name of a parsed tensor's Triton DataType enum value."""
    field = tensor.DESCRIPTOR.fields_by_name["data_type"]  # type: ignore[attr-defined]
    return field.enum_type.values_by_number[tensor.data_type].name  # type: ignore[attr-defined]


def _model(version: int, inputs: dict[str, tuple[int, ...]], outputs: dict[str, list[str]]) -> SimpleNamespace:
    """What `triton_config` reads of an OnnxModel, for a multi-tensor model without training one."""
    return SimpleNamespace(
        name="multi",
        version=version,
        output_columns=outputs,
        output_names=list(outputs),
        inputs=[SimpleNamespace(name=k, shape=v) for k, v in inputs.items()],
    )


@pytest.mark.parametrize(
    "batching", [BatchPolicy(64, 100), BatchPolicy(max_batch_size=1)], ids=["batched", "unbatched"]
)
def test_multi_tensor_configs_of_several_versions_fit_tritons_schema(batching: BatchPolicy) -> None:
    versions = [
        _model(1, {"features": (20, 21), "fundamentals": (4,)}, {"probabilities": ["down", "up"]}),
        _model(
            2,
            {"features": (30, 21), "fundamentals": (4,)},
            {"probabilities": ["down", "flat", "up"], "forecast": ["ret"]},
        ),
    ]
    config = triton_config(versions, batching)
    parsed = triton_model_config(config)
    if parsed is None:
        pytest.skip("Triton's ModelConfig is not installed in test_grpc_versions.py's runs")
    batch = () if batching.max_batch_size > 1 else (-1,)
    assert [(i.name, list(i.dims)) for i in parsed.input] == [
        ("features", [*batch, -1, 21]),
        ("fundamentals", [*batch, 4]),
    ]
    assert [(o.name, list(o.dims)) for o in parsed.output] == [
        ("probabilities", [*batch, -1]),
        ("forecast", [*batch, 1]),
    ]


def test_export_refuses_an_empty_folder_and_writing_into_the_models(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="no loadable models"):
        export_triton(tmp_path, tmp_path / "triton")
    install(tiny_model, tmp_path, "tiny")
    with pytest.raises(ValueError, match="expected a folder other than the models folder"):
        export_triton(tmp_path, tmp_path)
