"""export_triton: a Triton model repository with the same ONNX files, one config.pbtxt per model."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalstack.server.options import BatchPolicy
from signalstack.server.triton import export_triton

from .support import install

CONFIG = '''name: "tiny"
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
'''


def test_export_writes_configs_and_version_folders(tmp_path: Path, tiny_model: Path) -> None:
    models = tmp_path / "models"
    install(tiny_model, models, "tiny", 1)
    install(tiny_model, models, "tiny", 3)
    install(tiny_model, models, "single")
    written = export_triton(models, tmp_path / "triton")
    out = tmp_path / "triton"
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "single/1/model.onnx", "single/config.pbtxt", "tiny/1/model.onnx", "tiny/3/model.onnx", "tiny/config.pbtxt"]
    assert (out / "tiny" / "config.pbtxt").read_text() == CONFIG
    assert (out / "single" / "config.pbtxt").read_text() == CONFIG.replace('"tiny"', '"single"')
    assert (out / "tiny" / "3" / "model.onnx").read_bytes() == tiny_model.read_bytes()


def test_export_without_batching_spells_out_the_batch_axis(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path / "models", "tiny")
    export_triton(tmp_path / "models", tmp_path / "triton", batching=BatchPolicy(max_batch_size=1))
    config = (tmp_path / "triton" / "tiny" / "config.pbtxt").read_text()
    assert "max_batch_size: 0\n" in config and "dims: [ -1, 20, 21 ]" in config and "dims: [ -1, 2 ]" in config
    assert "dynamic_batching" not in config


def test_export_refuses_an_empty_folder_and_writing_into_the_models(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="no loadable models"):
        export_triton(tmp_path, tmp_path / "triton")
    install(tiny_model, tmp_path, "tiny")
    with pytest.raises(ValueError, match="expected a folder other than the models folder"):
        export_triton(tmp_path, tmp_path)
