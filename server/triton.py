"""A Triton Inference Server model repository for the models of a signalstack model folder.

For a desk that outgrows one machine: the same ONNX files served by Triton (or KServe with the
Triton runtime), which speak the same Open Inference Protocol as signalstack's own server.
Triton's layout is signalstack's versioned layout plus a ``config.pbtxt`` per model::

    OUT/<model>/config.pbtxt
    OUT/<model>/<version>/model.onnx

Tensors are the ONNX graph's, every input and output by name (the scalers are inside the graph),
as in `oip`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from signalstack.core.errors import SettingsError
from signalstack.core.model import OnnxModel

from .options import TRITON_BATCHING, BatchPolicy
from .repository import MODEL_FILE, ModelRepository, no_models

log = logging.getLogger(__name__)


def export_triton(models_dir: Path, out_dir: Path, *, batching: BatchPolicy = TRITON_BATCHING) -> list[Path]:
    """Write a Triton model repository for every loadable model of `models_dir`; return the files written.

    Every version of each model is copied; `batching` becomes each model's ``max_batch_size``
    and ``dynamic_batching`` queue delay. Existing files of the same models are overwritten.
    """
    repository = ModelRepository(Path(models_dir), warm_up=False)
    models = repository.models()
    if not models:
        raise no_models(models_dir)
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(models_dir).resolve():
        raise SettingsError(f"out_dir {out_dir}: expected a folder other than the models folder")
    written = []
    for name in sorted({m.name for m in models}):
        versions = [m for m in models if m.name == name]
        folder = out_dir / name
        for model in versions:
            target = folder / str(model.version) / MODEL_FILE
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model.path, target)
            written.append(target)
        config = folder / "config.pbtxt"
        config.write_text(triton_config(versions, batching))
        written.append(config)
        log.info("model %s (versions %s) written to %s", name, ", ".join(str(m.version) for m in versions), folder)
    return written


def triton_config(versions: Sequence[OnnxModel], batching: BatchPolicy) -> str:
    """config.pbtxt for the versions of one model (tensors named as the newest's); a dimension the
    versions disagree on becomes -1."""
    newest = max(versions, key=lambda m: m.version)
    inputs = {i.name: _dims([j.shape for m in versions for j in m.inputs if j.name == i.name]) for i in newest.inputs}
    outputs = {
        name: _dims([(len(m.output_columns[name]),) for m in versions if name in m.output_columns])
        for name in newest.output_names
    }
    if batching.max_batch_size == 1:  # Triton's "no batching": max_batch_size 0, the batch axis spelled out
        max_batch, batch = 0, ""
        inputs = {k: (-1, *v) for k, v in inputs.items()}
        outputs = {k: (-1, *v) for k, v in outputs.items()}
    else:
        max_batch, batch = (
            batching.max_batch_size,
            (f"dynamic_batching {{\n  max_queue_delay_microseconds: {batching.max_delay_us}\n}}\n"),
        )
    return (
        f'name: "{newest.name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {max_batch}\n"
        "version_policy: { all { } }\n"
        f"{_tensors('input', inputs)}"
        f"{_tensors('output', outputs)}"
        f"{batch}"
    )


def _dims(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    if len({len(s) for s in shapes}) != 1:
        return (-1,) * max(len(s) for s in shapes)
    return tuple(dims[0] if len(set(dims)) == 1 else -1 for dims in zip(*shapes))


def _tensors(kind: str, dims: dict[str, tuple[int, ...]]) -> str:
    entries = ",\n".join(
        f'  {{\n    name: "{name}"\n    data_type: TYPE_FP32\n    dims: [ {", ".join(map(str, shape))} ]\n  }}'
        for name, shape in dims.items()
    )
    return f"{kind} [\n{entries}\n]\n"
