"""The models a server answers with: ONNX files of one folder, by name and version, kept in sync with it.

Layout (the same as a Triton model repository, minus config.pbtxt)::

    DIR/<model>/<version>/model.onnx   versions are positive integers; the newest is the default
    DIR/<model>.onnx                   a single file is version 1 (a <model>/ folder takes precedence)

`refresh` brings the loaded table in line with the folder: a new or rewritten file is loaded and
warmed up outside the lock, then the whole table is swapped at once, so lookups never wait on a
load and never see half a change. A file that fails to load is refused with one log line and
whatever was loaded before keeps serving. A removed version leaves the table at once; calls
already holding it finish on it, and onnxruntime frees it when the last of them lets go.
`Watcher` calls `refresh` every few seconds. Write new files atomically (copy elsewhere, then
rename into place) so a half-copied file is never seen.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

from signalstack.core.errors import NotFound
from signalstack.core.model import OnnxModel

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
"""Allowed model names: they travel in requests, logs, metric labels and health-check service names."""

VERSION = re.compile(r"^[1-9][0-9]{0,17}$")
"""Allowed version folder names: positive integers that fit an int64."""

MODEL_FILE = "model.onnx"

_Key = tuple[str, int]
_Stamp = tuple[int, int, int]  # (mtime_ns, size, inode): changes whenever a file is rewritten or replaced


class ModelNotFound(NotFound):
    """No loaded model has the requested name or version; the message lists what is loaded.

    A NotFound, hence still the KeyError it was before errors had one root; its str() is the message itself,
    unquoted, as the gRPC status carries it."""


def no_models(root: Path) -> NotFound:
    """The error of a model folder without a model to serve or export."""
    return NotFound(
        f"{root}: no loadable models (expected NAME.onnx or NAME/VERSION/model.onnx files exported by "
        "signalstack train)"
    )


class ModelRepository:
    """The ONNX models of a folder; thread-safe lookups, atomic swaps on `refresh`."""

    def __init__(self, root: Path, *, threads: int = 0, device: str = "auto", warm_up: bool = True) -> None:
        """`threads`: onnxruntime's intra-op threads per model; `device`: auto, cpu or cuda (see core.session)."""
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root}: not a folder (expected a folder of *.onnx model files)")
        self._threads, self._device, self._warm_up = threads, device, warm_up
        self._lock = threading.Lock()  # guards the table lookups read
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._models: dict[str, dict[int, OnnxModel]] = {}
        self._stamps: dict[_Key, _Stamp] = {}  # the file each loaded model came from
        self._refused: dict[_Key, _Stamp] = {}  # files that failed, not retried until they change
        self._reported: set[str] = set()  # layout problems already logged
        self._listeners: list[Callable[[], None]] = []
        self.refresh()
        if not self._models:  # the caller decides whether that is an error (serve) or a folder to watch
            log.debug("%s: no loadable models yet", self.root)

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

    def versions(self, name: str) -> list[int]:
        """The loaded versions of `name`, oldest first."""
        with self._lock:
            if name not in self._models:
                available = ", ".join(sorted(self._models)) or "none"
                raise ModelNotFound(f"model {name!r} not found (available: {available})")
            return sorted(self._models[name])

    def models(self) -> list[OnnxModel]:
        """Every loaded model and version, by name then version."""
        with self._lock:
            return [self._models[name][v] for name in sorted(self._models) for v in sorted(self._models[name])]

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every refresh that changed the loaded models."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Load new and rewritten files, unload removed ones; True when the loaded models changed."""
        with self._refresh_lock:
            found = self._scan()
            table = {name: dict(versions) for name, versions in self._models.items()}
            stamps = dict(self._stamps)
            changed = False
            for key in sorted(set(stamps) - set(found)):
                del table[key[0]][key[1]], stamps[key]
                log.info("model %s v%d unloaded: its file left %s (calls already on it finish first)", *key, self.root)
                changed = True
            for key, (path, stamp) in sorted(found.items()):
                if stamps.get(key) == stamp or self._refused.get(key) == stamp:
                    continue
                model = self._load(path, key, replacing=key in stamps)
                if model is None:
                    self._refused[key] = stamp
                    continue
                table.setdefault(key[0], {})[key[1]] = model
                stamps[key] = stamp
                changed = True
            self._refused = {k: s for k, s in self._refused.items() if k in found}
            if changed:
                with self._lock:
                    self._models = {name: versions for name, versions in table.items() if versions}
                    self._stamps = stamps
        if changed:
            for listener in self._listeners:
                listener()
        return changed

    def _load(self, path: Path, key: _Key, *, replacing: bool) -> OnnxModel | None:
        """The model in `path`, loaded and warmed up, or None after logging why it was refused."""
        try:
            model = OnnxModel(path, name=key[0], version=key[1], device=self._device, threads=self._threads)
            if self._warm_up:
                model.warm_up()
        except Exception as exc:  # one bad file must never take down what already serves
            still = f"; model {key[0]} v{key[1]} keeps serving the previous file" if replacing else ""
            why = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            log.error("skipping %s%s", why, still)
            return None
        log.info("model %s v%d %s from %s", key[0], key[1], "reloaded" if replacing else "loaded", path)
        return model

    def _scan(self) -> dict[_Key, tuple[Path, _Stamp]]:
        """Every model file of the folder by (name, version), with its stamp; layout problems logged once."""
        found: dict[_Key, tuple[Path, _Stamp]] = {}
        singles: dict[str, Path] = {}
        problems: set[str] = set()
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue  # editors' and atomic writers' temporaries
            if entry.is_dir():
                found.update(self._scan_versions(entry, problems))
            elif entry.suffix == ".onnx" and entry.is_file():
                if NAME.match(entry.stem):
                    singles[entry.stem] = entry
                else:
                    problems.add(f"skipping {entry}: model name {entry.stem!r} must match {NAME.pattern}")
        for name, path in singles.items():
            if any(key[0] == name for key in found):
                problems.add(f"skipping {path}: folder {self.root / name} holds versions of {name!r} already")
            else:
                _add(found, (name, 1), path)
        for message in sorted(problems - self._reported):
            log.error("%s", message)
        self._reported = problems
        return found

    def _scan_versions(self, folder: Path, problems: set[str]) -> dict[_Key, tuple[Path, _Stamp]]:
        """The version files of one model folder; folders holding no model.onnx are not models and pass silently."""
        found: dict[_Key, tuple[Path, _Stamp]] = {}
        for sub in sorted(folder.iterdir()):
            path = sub / MODEL_FILE
            if sub.name.startswith(".") or not path.is_file():
                continue
            if not NAME.match(folder.name):
                problems.add(f"skipping {path}: model name {folder.name!r} must match {NAME.pattern}")
            elif not VERSION.match(sub.name):
                problems.add(f"skipping {path}: version folder {sub.name!r} must be a positive integer")
            else:
                _add(found, (folder.name, int(sub.name)), path)
        return found


def _add(found: dict[_Key, tuple[Path, _Stamp]], key: _Key, path: Path) -> None:
    """Record `path` under `key` with what identifies its content, unless it vanished meanwhile."""
    try:
        st = path.stat()
    except OSError:
        return
    found[key] = (path, (st.st_mtime_ns, st.st_size, st.st_ino))


class Watcher:
    """A daemon thread calling `repository.refresh()` every `interval` seconds until `stop`."""

    def __init__(self, repository: ModelRepository, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"watch interval {interval}: expected seconds > 0")
        self.repository = repository
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signalstack-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.repository.refresh()
            except Exception:  # e.g. the folder is briefly unreadable: keep serving, try again next time
                log.exception("refreshing %s failed; models unchanged", self.repository.root)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
