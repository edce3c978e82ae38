"""onnxruntime sessions: a quiet start without CUDA, one line naming the provider, a clear error for --device cuda."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from signalstack.core.errors import NotFound
from signalstack.core.session import CUDA, OnnxSession, check_device

LOAD_TWICE = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
    "from signalstack.core.model import OnnxModel\n"
    "OnnxModel(sys.argv[1]); OnnxModel(sys.argv[1], device=sys.argv[2])\n"
)


def _cuda_starts(model: Path) -> bool:
    try:
        return OnnxSession(model, device="cuda").provider == CUDA
    except ValueError:
        return False


def test_loading_models_prints_no_onnxruntime_errors_or_warnings(tiny_model: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_TWICE, str(tiny_model), "auto"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "[E:onnxruntime" not in result.stderr and "[W:onnxruntime" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(
        line.startswith("INFO signalstack.core.model: tiny.onnx: onnxruntime on ") for line in lines
    ), lines


def test_device_cuda_fails_loudly_where_cuda_does_not_start(tiny_model: Path) -> None:
    if _cuda_starts(tiny_model):
        assert OnnxSession(tiny_model, device="cuda").provider == CUDA
        return
    built = CUDA in ort.get_available_providers()
    message = "CUDA provider did not start here" if built else "this onnxruntime build has no CUDA provider"
    with pytest.raises(ValueError, match=message):
        OnnxSession(tiny_model, device="cuda")


def test_auto_takes_cuda_where_it_starts_and_the_cpu_elsewhere(tiny_model: Path) -> None:
    expected = CUDA if _cuda_starts(tiny_model) else "CPUExecutionProvider"
    assert OnnxSession(tiny_model, device="auto").provider == expected
    assert OnnxSession(tiny_model, device="cpu").provider == "CPUExecutionProvider"


def test_an_unknown_device_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="device 'gpu': expected one of auto, cpu, cuda"):
        check_device("gpu")


def test_a_missing_model_file_is_our_own_error_not_onnxruntimes(tmp_path: Path) -> None:
    path = tmp_path / "no.onnx"
    with pytest.raises(NotFound) as info:
        OnnxSession(path)
    assert str(info.value) == f"model file {path} not found (expected an .onnx file written by signalstack train)"
    assert isinstance(info.value, FileNotFoundError | ValueError)  # what callers caught before
