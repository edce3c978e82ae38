"""The model folder: versions, good files serve, bad ones are logged and skipped, reloads swap safely."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import weakref
from pathlib import Path

import numpy as np
import onnx
import pytest

from signalstack.server.repository import ModelNotFound, ModelRepository, Watcher
from signalstack.transport.client import SignalClient

from .support import install, running


@pytest.fixture
def mixed_dir(tmp_path: Path, tiny_model: Path) -> Path:
    """good.onnx (the tiny model), broken.onnx (not ONNX) and 'bad name.onnx' (a valid model, bad name)."""
    shutil.copy(tiny_model, tmp_path / "good.onnx")
    shutil.copy(tiny_model, tmp_path / "bad name.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"this is not a protobuf")
    (tmp_path / "notes.txt").write_text("not a model")
    return tmp_path


def test_bad_files_are_skipped_with_a_log_and_the_good_one_serves(
    mixed_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        repository = ModelRepository(mixed_dir)
    assert [m.name for m in repository.models()] == ["good"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("broken.onnx" in e and "not a loadable ONNX model" in e for e in errors), errors
    assert any("bad name.onnx" in e and "model name 'bad name' must match" in e for e in errors), errors

    with running(repository) as server, SignalClient(server.address, timeout=30) as client:
        assert [m.name for m in client.list_models()] == ["good"]
        assert client.get_model("good").version == 1


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


def test_versions_are_folders_and_the_newest_is_the_default(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    install(tiny_model, tmp_path, "tiny", 10)
    install(tiny_model, tmp_path, "other")
    (tmp_path / "tiny.training").mkdir()  # training artefacts beside a model are not a model
    repository = ModelRepository(tmp_path)
    assert [(m.name, m.version) for m in repository.models()] == [("other", 1), ("tiny", 1), ("tiny", 10)]
    assert repository.get("tiny").version == 10
    assert repository.get("tiny", 1).version == 1
    assert repository.versions("tiny") == [1, 10]


def test_a_model_folder_takes_precedence_over_a_single_file(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install(tiny_model, tmp_path, "tiny")
    install(tiny_model, tmp_path, "tiny", 3)
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        repository = ModelRepository(tmp_path)
    assert [(m.name, m.version) for m in repository.models()] == [("tiny", 3)]
    assert "holds versions of 'tiny' already" in caplog.text


@pytest.mark.parametrize(
    "parts",
    [
        ("bad name", "1"),
        ("tiny", "v2"),
        ("tiny", "0"),
        ("tiny", "-1"),
        ("_tiny", "1"),
        ("tiny", "99999999999999999999"),
    ],
)
def test_odd_model_and_version_folder_names_are_refused(
    tmp_path: Path, tiny_model: Path, parts: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path.joinpath(*parts)
    folder.mkdir(parents=True)
    shutil.copy(tiny_model, folder / "model.onnx")
    install(tiny_model, tmp_path, "good")
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        repository = ModelRepository(tmp_path)
    assert [m.name for m in repository.models()] == ["good"]
    assert f"skipping {folder / 'model.onnx'}: " in caplog.text


@pytest.mark.parametrize("name", ["../tiny", "tiny/1", "/etc/passwd", "", "tiny\x00", ".", "..", "a" * 200])
def test_lookups_with_path_like_names_find_nothing(model_dir: Path, name: str) -> None:
    with pytest.raises(ModelNotFound, match="not found"):
        ModelRepository(model_dir).get(name)


def _without_card(tiny_model: Path, out: Path) -> Path:
    """A loadable ONNX model that lacks the signalstack card: valid ONNX, invalid model."""
    model = onnx.load(tiny_model)
    del model.metadata_props[:]
    onnx.save(model, out)
    return out


def test_refresh_loads_new_versions_refuses_bad_files_and_keeps_serving(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    repository = ModelRepository(tmp_path)
    changes: list[list[tuple[str, int]]] = []
    repository.on_change(lambda: changes.append([(m.name, m.version) for m in repository.models()]))
    v1 = repository.get("tiny")
    assert repository.refresh() is False  # nothing changed on disk

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    (tmp_path / "scratch").mkdir()
    install(_without_card(tiny_model, tmp_path / "scratch" / "plain.onnx"), tmp_path, "tiny", 2)
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        assert repository.refresh() is False
        assert repository.refresh() is False  # refused files are not retried until they change
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2, errors
    assert any("tiny/2/model.onnx" in e and "no 'signalstack' metadata" in e for e in errors), errors
    assert repository.get("tiny") is v1

    (tmp_path / "tiny" / "1" / "model.onnx").write_bytes(b"truncated")  # the serving file is overwritten badly
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="signalstack.server.repository"):
        assert repository.refresh() is False
    assert "model tiny v1 keeps serving the previous file" in caplog.text
    assert repository.get("tiny") is v1

    install(tiny_model, tmp_path, "tiny", 2)  # a good file replaces the refused one
    assert repository.refresh() is True
    assert repository.get("tiny").version == 2 and repository.get("tiny", 1) is v1
    v2 = weakref.ref(repository.get("tiny", 2))
    shutil.rmtree(tmp_path / "tiny" / "2")
    assert repository.refresh() is True
    assert repository.get("tiny") is v1
    gc.collect()
    assert v2() is None, "an unloaded version is still held"
    assert changes == [[("tiny", 1), ("tiny", 2)], [("tiny", 1)]]
    assert v1.predict({"features": np.zeros((1, 20, 21), np.float32)})["probabilities"].shape == (1, 2)


def test_removing_every_version_unloads_the_model(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    install(tiny_model, tmp_path, "other")
    repository = ModelRepository(tmp_path)
    shutil.rmtree(tmp_path / "tiny")
    assert repository.refresh() is True
    with pytest.raises(ModelNotFound, match=r"model 'tiny' not found \(available: other\)"):
        repository.get("tiny")


def test_watcher_picks_up_a_new_version(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    repository = ModelRepository(tmp_path)
    loaded = threading.Event()
    repository.on_change(loaded.set)
    watcher = Watcher(repository, interval=0.05)
    try:
        install(tiny_model, tmp_path, "tiny", 2)
        assert loaded.wait(timeout=30), "the watcher did not load tiny v2"
    finally:
        watcher.stop()
    assert repository.get("tiny").version == 2


def test_watcher_refuses_a_non_positive_interval(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="watch interval 0: expected seconds > 0"):
        Watcher(ModelRepository(model_dir), interval=0)
