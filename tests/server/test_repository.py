"""The model folder: good files serve, bad ones are logged and skipped, lookups explain misses."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from signalstack.server.app import build_server
from signalstack.server.client import SignalClient
from signalstack.server.repository import ModelNotFound, ModelRepository

from ..support import free_port


@pytest.fixture
def mixed_dir(tmp_path: Path, tiny_model: Path) -> Path:
    """good.onnx (the tiny model), broken.onnx (not ONNX) and 'bad name.onnx' (a valid model, bad name)."""
    shutil.copy(tiny_model, tmp_path / "good.onnx")
    shutil.copy(tiny_model, tmp_path / "bad name.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"this is not a protobuf")
    (tmp_path / "notes.txt").write_text("not a model")
    return tmp_path


def test_bad_files_are_skipped_with_a_log_and_the_good_one_serves(
        mixed_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        repository = ModelRepository(mixed_dir)
    assert [m.name for m in repository.models()] == ["good"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("broken.onnx" in e and "not a loadable ONNX model" in e for e in errors), errors
    assert any("bad name.onnx" in e and "model name 'bad name' must match" in e for e in errors), errors

    server, port = build_server(repository, port=free_port())
    server.start()
    try:
        with SignalClient(f"127.0.0.1:{port}", timeout=30) as client:
            assert [m.name for m in client.list_models()] == ["good"]
            assert client.get_model("good").version == 1
    finally:
        server.stop(grace=None)


def test_model_not_found_lists_available_models(model_dir: Path) -> None:
    repository = ModelRepository(model_dir)
    assert repository.get("tiny") is repository.get("tiny", 1)
    with pytest.raises(ModelNotFound) as info:
        repository.get("../tiny")
    assert str(info.value) == "model '../tiny' not found (available: tiny)"
    with pytest.raises(ModelNotFound, match=r"model 'tiny' has no version 2 \(available versions: 1\)"):
        repository.get("tiny", 2)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nowhere: not a folder"):
        ModelRepository(tmp_path / "nowhere")
