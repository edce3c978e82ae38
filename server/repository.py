"""The models a server answers with: ONNX files found in one folder, looked up by name and version.

Today every ``DIR/<name>.onnx`` is version 1 of model ``<name>``. Models are held as name -> {version:
model} behind a lock, so a versioned layout or a hot reload can swap the table without callers of
`get` and `models` noticing.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from .runtime import OnnxModel

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
"""Allowed model names: they travel in requests, logs and health-check service names."""


class ModelNotFound(KeyError):
    """No loaded model has the requested name or version; the message lists what is loaded."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its argument, which would garble the gRPC status message.
        return str(self.args[0])


class ModelRepository:
    """The ONNX models of a folder, loaded once; thread-safe lookups."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root}: not a folder (expected a folder of *.onnx model files)")
        self._lock = threading.Lock()
        self._models = _load_folder(self.root)

    def get(self, name: str, version: int = 0) -> OnnxModel:
        """The model `name` at `version`, or its newest version when `version` is 0."""
        with self._lock:
            versions = self._models.get(name)
            if versions is None:
                available = ", ".join(sorted(self._models)) or "none"
                raise ModelNotFound(f"model {name!r} not found (available: {available})")
            if version == 0:
                return versions[max(versions)]
            if version not in versions:
                available = ", ".join(map(str, sorted(versions)))
                raise ModelNotFound(f"model {name!r} has no version {version} (available versions: {available})")
            return versions[version]

    def models(self) -> list[OnnxModel]:
        """Every loaded model and version, by name then version."""
        with self._lock:
            return [self._models[name][v] for name in sorted(self._models) for v in sorted(self._models[name])]


def _load_folder(root: Path) -> dict[str, dict[int, OnnxModel]]:
    """Load each ``*.onnx`` of `root` as version 1; files with bad names or contents are logged and skipped."""
    models: dict[str, dict[int, OnnxModel]] = {}
    for path in sorted(root.glob("*.onnx")):
        if not NAME.match(path.stem):
            log.error("skipping %s: model name %r must match %s", path, path.stem, NAME.pattern)
            continue
        try:
            models[path.stem] = {1: OnnxModel(path, name=path.stem, version=1)}
        except Exception as exc:  # one unreadable file must not keep the others from serving
            log.error("skipping %s: %s", path, exc)
    if not models:
        log.warning("%s: no loadable *.onnx models", root)
    return models
