"""A run's folder while it fills: status.json, and the finished tasks' results kept for a resume.

    status.json   {"status": "running" | "interrupted" | "failed" | "complete", "run", "version", "digest",
                   "experiment_digest", "data_digest": {"bars", "fundamentals"}, "tasks", "finished", "resumes",
                   "updated"}; an interrupted run adds "signal", "left" (the tasks not finished, by name)
                   and "resume" (the command that continues it), a failed one "error"
    tasks/        one file per finished task (its rows, predictions and seconds), written as the task
                  finishes, so that a run stopped by a signal, or killed outright, keeps every finished
                  task; removed once metrics.json is written

`check_resumable` says in one line why a folder cannot be resumed: it is finished, it was made by another
signalstack version, its experiment.yaml was edited, or its data no longer has the fingerprint it was run on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from signalstack import __version__
from signalstack.core.errors import InvalidInput

from .layouts import Task, TaskResult

STATUS = "status.json"
TASKS = "tasks"
INTERRUPTED_KEYS = ("signal", "left", "resume", "error")
"""What status.json says of a stop, dropped when the run goes on."""


class ResumeRefused(InvalidInput):
    """A run folder that `signalstack run --resume` cannot continue, with the reason."""


def read_status(folder: Path) -> dict[str, Any]:
    """status.json of the run folder `folder`, or ResumeRefused naming what is missing."""
    path = folder / STATUS
    if not path.is_file():
        raise ResumeRefused(f"{folder}: no {STATUS} (expected a folder made by signalstack run)")
    return json.loads(path.read_text())


def write_status(folder: Path, status: Mapping[str, Any]) -> None:
    """status.json, replaced in one step (a reader never sees half a file)."""
    _write_atomically(folder / STATUS, (json.dumps({**status, "updated": _now()}, indent=2) + "\n").encode())


def check_resumable(
    folder: Path, status: Mapping[str, Any], experiment_digest: str, data_digest: Mapping[str, str]
) -> None:
    """ResumeRefused, in one line, unless the run in `folder` can go on with this experiment and data."""
    if status["status"] == "complete":
        raise ResumeRefused(f"{folder}: the run is complete (metrics.json written): nothing to resume")
    if status["version"] != __version__:
        raise ResumeRefused(
            f"{folder}: run by signalstack {status['version']}, this is {__version__} (expected "
            "the same version, whose tasks give the same numbers)"
        )
    if experiment_digest != status["experiment_digest"]:
        raise ResumeRefused(
            f"{folder}: experiment.yaml changed since the run began (digest {experiment_digest}, "
            f"expected {status['experiment_digest']}): start a new run instead"
        )
    recorded = status["data_digest"]
    for key in sorted({*data_digest, *recorded}):
        if data_digest.get(key) != recorded.get(key):
            raise ResumeRefused(
                f"{folder}: the {key} changed since the run began (fingerprint {data_digest.get(key)}, "
                f"expected {recorded.get(key)}): start a new run instead"
            )


def keep(folder: Path, result: TaskResult) -> None:
    """A finished task's result, kept in tasks/ for a resume (pickled: the frames come back exactly as they were, so
    a resumed run's metrics equal an uninterrupted one's; a folder is only ever read back by the user who ran it)."""
    _write_atomically(folder / TASKS / _file_name(result.task), pickle.dumps(result))


def kept(folder: Path, tasks: Sequence[Task]) -> dict[Task, TaskResult]:
    """The results kept in tasks/ of those `tasks` that finished."""
    found = {}
    for task in tasks:
        path = folder / TASKS / _file_name(task)
        if path.is_file():
            found[task] = pickle.loads(path.read_bytes())
    return found


def forget(folder: Path) -> None:
    """tasks/, once the run's metrics are written."""
    shutil.rmtree(folder / TASKS, ignore_errors=True)


def _file_name(task: Task) -> str:
    seed = "" if task.seed is None else f"-seed{task.seed}"
    where = "real" if task.surrogate is None else f"surrogate{task.surrogate}"
    return f"{where}-fold{task.fold}-{task.kind}{seed}.pickle"


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
