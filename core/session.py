"""One ONNX graph in onnxruntime: the execution provider it runs on, its metadata, and runs by name.

onnxruntime-gpu on a machine without a working CUDA prints a red load error and a yellow
requirements warning for every session that asks for CUDA, which reads as a broken install. So
`auto` asks for CUDA once per process with onnxruntime's own log silenced and remembers the
answer; `cuda` fails with a clear error where CUDA does not start. `model.OnnxModel` says which
provider each model got in one INFO line, once the file is known to be a signalstack model.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import InvalidInput, NotFound, SettingsError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

DEVICES = ("auto", "cpu", "cuda")
"""auto: CUDA when it works here, else the CPU; cpu; cuda: CUDA or an error."""

_ORT_FATAL = 4
"""onnxruntime's log severity that shows fatal errors only."""

_ORT_WARNING = 2
"""onnxruntime's default log severity."""

_lock = threading.Lock()
_cuda_works: bool | None = None
"""Whether a CUDA session started in this process; None until a model asked for one."""


def check_device(device: str) -> str:
    """`device` if it is one of `DEVICES`, else a ValueError naming them."""
    if device not in DEVICES:
        raise SettingsError(f"device {device!r}: expected one of {', '.join(DEVICES)}")
    return device


def _providers(device: str) -> list[str]:
    """The providers to ask onnxruntime for: CPU always last, so a graph op CUDA lacks still runs."""
    built = CUDA in ort.get_available_providers()
    if device == "cuda":
        if not built:
            raise SettingsError(
                "device cuda: this onnxruntime build has no CUDA provider (expected onnxruntime-gpu; "
                "use --device cpu or auto)"
            )
        return [CUDA, CPU]
    if device == "auto" and built and _cuda_works is not False:
        return [CUDA, CPU]
    return [CPU]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence onnxruntime's process-wide log while a session starts (its CUDA load errors go there)."""
    ort.set_default_logger_severity(_ORT_FATAL)
    try:
        yield
    finally:
        ort.set_default_logger_severity(_ORT_WARNING)


class OnnxSession:
    """An onnxruntime session of one file; `run` is thread-safe."""

    def __init__(self, path: str | Path, *, device: str = "auto", threads: int = 0) -> None:
        """`threads`: onnxruntime's intra-op threads (0: its default)."""
        global _cuda_works
        self.path = Path(path)
        self.device = check_device(device)
        if not self.path.is_file():  # onnxruntime would say "[ONNXRuntimeError] : 3 : NO_SUCHFILE"
            raise NotFound(f"model file {self.path} not found (expected an .onnx file written by signalstack train)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        with _lock:
            asked = _providers(device)
            try:
                with _quiet():
                    self._session = ort.InferenceSession(str(self.path), options, providers=asked)
            except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
                raise InvalidInput(f"{self.path}: not a loadable ONNX model ({exc})") from exc
            self.provider = self._session.get_providers()[0]
            if device == "auto" and CUDA in asked:
                _cuda_works = self.provider == CUDA
                if not _cuda_works:
                    log.debug("onnxruntime's CUDA provider did not start here: models run on the CPU")
        if device == "cuda" and self.provider != CUDA:
            raise SettingsError(
                f"{self.path}: device cuda, but onnxruntime's CUDA provider did not start here "
                "(no GPU, or CUDA/cuDNN libraries missing); use --device cpu or auto"
            )
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.metadata: Mapping[str, str] = self._session.get_modelmeta().custom_metadata_map

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output by name, for float32 inputs by name."""
        return dict(zip(self.output_names, self._session.run(self.output_names, dict(inputs))))
