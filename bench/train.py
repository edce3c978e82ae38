"""Training speed of every zoo model and of a walk-forward research run, with peak memory, on the CPU.

    python bench/train.py                      # about 2.5 minutes on 2 idle cores
    python bench/train.py --quick              # a smoke run: 6 models (every input kind), 3 folds: ~1 minute
    python bench/train.py --models lstm,inception --steps 10 --batch-size 32 --threads 1
    python bench/train.py --models mlp --steps 2 --mlflow   # the walk-forward run without and with MLflow

No data files: every input is built by signalstack's own data builders (`pipeline.dataset_for`,
which picks windows, fundamentals, factor images, pairs or day x intraday blocks from what a
net's declared inputs ask for) from seeded random walks made here: business-day bars (a panel of
four symbols for the image and pair nets, dated random fundamentals for the two-input nets) and
one-minute bars, 240 a day, for the intraday nets (`hier_lstm` reads them as 5-minute bars, 48 a
day, as its post). Features are `FeatureSpec.default()` (21 columns, what `signalstack train`
computes); each net keeps its post's layer sizes and window length (the T of its registered
(T, F) input, 1 for a net of one feature row), so parameter counts differ from the posts' where
their inputs had another feature count.

What each figure means:

- samples/s: training samples per second of an epoch of `--steps` optimizer steps of
  `--batch-size` samples (forward, loss, backward, gradient clipping, Adam), timed inside
  `signalstack.models.train.train` itself (between its epoch ends) after a first, untimed epoch
  of the same steps that warms it up; `--threads` torch threads. Steps have a fixed count, so a
  slow net runs as many as a fast one.
- params: the trained net's parameters (torch's count, at these input shapes).
- peak MiB: the peak resident memory of this process while the model's inputs were built and its
  steps ran, torch and the interpreter included (getrusage(RUSAGE_SELF) after the peak is reset
  through /proc/self/clear_refs; without that file, e.g. off Linux, peaks only grow and the
  table says so); +MiB: that peak less the resident memory when the model's turn began (what
  the earlier models left is in the peak, not in +MiB).
- GPU samples/s and x CPU (only when torch sees CUDA, for `--gpu-models`): the same epochs with
  `TrainConfig(device="cuda")` and its other defaults, against the CPU figure.
- walk-forward: wall seconds of `run_experiment` (what `signalstack run` runs: data, folds,
  one seed's model per fold, baselines, fold exports, the report) over `--folds` folds of one
  symbol, with 1 worker and with 2 worker processes (each task on one thread, so the second
  worker uses the second core); parallel efficiency t1 / (2 * t2), 1.0 being a perfect halving.
  CPU s: user + system seconds of this process and its workers during the run (getrusage SELF and
  CHILDREN), which other load on the machine moves far less than wall time: the 2-worker run's
  extra CPU seconds are what parallelism costs (each worker imports torch and the rest first).
  ceiling: the same efficiency for two bare Python processes that each burn `--spin` CPU seconds,
  at once against one alone, measured just before and just after the runs: what the machine
  offers two processes now (1.0 on two idle cores, 0.5 when others leave one core's worth), the
  baseline the walk-forward's efficiency is read against.
- resumed: the 1-worker run once more uninterrupted, then again stopped by a real SIGINT (sent to
  this process by a watcher thread) once a third of its tasks are kept in the run folder, then
  `resume_run`, back to back in this warmed-up process. Wall s: the resume against what the tasks
  it had left cost in the uninterrupted run (its seconds less the kept tasks' own seconds, each
  task timing itself); 1.00 x means a resume costs the tasks it had left and nothing more (it
  reloads the data and writes the report, as a run does). CPU s: the stopped part and the resume
  together against the uninterrupted run, which load moves less: about 1.00 x means no finished
  task ran twice (the task the signal cut short is lost, and the data is read twice).
  Peak MiB of this process (getrusage, reset before each run) and of the largest worker, read
  from the workers' own /proc VmHWM while they run: getrusage(RUSAGE_CHILDREN) cannot give a
  spawned worker's own peak, because exec keeps the peak the process had before it (the
  parent's resident memory at spawn), so it is printed below the table only for comparison.
- MLflow (`--mlflow [URI]`): `signalstack run` of the walk-forward experiment (1 worker) as a user runs it, a
  process each time, `--mlflow-pairs` times in turn without tracking and with `--mlflow URI` (default: a SQLite
  store made beforehand by another process, as a tracking server is started beforehand); the fastest of each
  side counts (the one other load slowed least), and the wall and CPU seconds tracking adds, MLflow's import
  included. `research/tracking.py` connects in a thread beside the run's work, so where a core is free that
  cost hides from the wall time, not from the CPU s.

Nothing here asserts a speed; load from other processes shows up as noise, so the machine's load
average is printed before and after. On a busy machine `--threads 1` gives far steadier figures:
torch's intra-op threads wait for each other at every op when other processes hold a core, which
can cost the small nets tenfold and more.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
import pandas as pd
import torch
import yaml

from signalstack.core.features import FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.models.config import INTRADAY_DAYS, TrainConfig
from signalstack.models.pipeline import (
    FUNDAMENTALS,
    IMAGES,
    INTRADAY,
    PAIRS,
    dataset_for,
    declared_inputs,
    input_layout,
)
from signalstack.models.train import train
from signalstack.models.windows import Dataset
from signalstack.models.zoo import get_entry, list_models

if TYPE_CHECKING:
    from signalstack.research.settings import ExperimentFile

MINUTE_NETS = ("cnn1d",)
"""(T, F) nets whose post reads one day of minute prices: given bars per day, `dataset_for` makes them
one-day blocks of the minute bars (as `signalstack train --bars-per-day 240` does)."""

BARS_PER_DAY = 240
"""One-minute bars a day: the posts' 240 minute prices (09:31-11:30 and 13:01-15:00)."""

FIVE_MINUTE_NETS = ("hier_lstm",)
"""Day x intraday nets whose post reads 5-minute bars (48 a day); the others read the minute bars."""

PANEL = ("A", "B", "C", "D")
"""The symbols of the image and pair nets: four, the Inception post's four channels."""

FULL = {
    "models": ",".join(list_models()),
    "steps": 10,
    "batch_size": 64,
    "image_days": 56,
    "folds": 10,
    "fold_train": 500,
    "fold_test": 100,
    "fold_epochs": 3,
    "fold_window": 30,
    "spin": 2.0,
}
QUICK = {
    "models": "mlp,lstm,rank,multitask,hier_lstm,inception",
    "steps": 2,
    "batch_size": 32,
    "image_days": 16,
    "folds": 3,
    "fold_train": 200,
    "fold_test": 50,
    "fold_epochs": 1,
    "fold_window": 10,
    "spin": 0.5,
}
"""The knobs' values for a full run and for --quick; a knob given on the command line wins over both."""


@dataclass(frozen=True)
class ModelRow:
    name: str
    input: str
    params: int
    samples_per_s: float
    peak_mib: float
    start_mib: float
    """Resident memory when the model's turn began: what earlier work left, which its peak includes."""
    gpu_samples_per_s: float | None = None


@dataclass(frozen=True)
class WalkRow:
    workers: int
    folds: int
    seconds: float
    cpu_seconds: float
    peak_mib: float
    worker_peak_mib: float | None


@dataclass(frozen=True)
class Resumed:
    """The 1-worker run stopped by SIGINT once a third of its tasks were kept, then resumed, against the same run
    uninterrupted (`full`) just before, in the same warm process."""

    tasks: int
    kept: int
    """Tasks finished and kept when the signal came."""
    kept_seconds: float
    """The kept tasks' own wall seconds (each task times itself)."""
    first: tuple[float, float]
    """Wall and CPU seconds from the start to the stop."""
    resume: tuple[float, float]
    """Wall and CPU seconds of the resume."""
    full: tuple[float, float]
    """Wall and CPU seconds of the uninterrupted 1-worker run."""


@dataclass(frozen=True)
class Tracked:
    """The 1-worker walk-forward run in pairs, back to back: without tracking, then logged to MLflow at `uri`."""

    uri: str
    seconds: tuple[list[float], list[float]]
    """Each pair's wall seconds: without tracking, then with."""
    cpu_seconds: tuple[list[float], list[float]]


@dataclass(frozen=True)
class WalkForward:
    rows: list[WalkRow]
    """One per worker count: 1, then 2."""
    resumed: Resumed
    ceilings: tuple[float, float]
    """`parallel_ceiling` just before the 1-worker run and just after the 2-worker run."""
    children_mib: float
    """getrusage(RUSAGE_CHILDREN).ru_maxrss at the end, for comparison only (see the module's docstring)."""


# Data: seeded random walks -----------------------------------------------------------------------


def walk_bars(index: pd.DatetimeIndex, seed: int, volatility: float) -> pd.DataFrame:
    """OHLCV bars at `index`'s times from a geometric random walk with `volatility` per bar."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, volatility, len(index))))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, volatility / 4, len(index)))
    spread = np.abs(rng.normal(0.0, volatility / 2, len(index)))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.lognormal(12.0, 0.3, len(index)).round(),
        },
        index=index.rename("time"),
    )


def daily_bars(n: int, seed: int) -> pd.DataFrame:
    """`n` business days from 1990 (1.2% a day)."""
    return walk_bars(pd.bdate_range("1990-01-02", periods=n), seed, 0.012)


def minute_bars(days: int, seed: int) -> pd.DataFrame:
    """`days` business days of BARS_PER_DAY one-minute bars, a morning and an afternoon session (0.08% a bar)."""
    half = BARS_PER_DAY // 2
    minutes = np.r_[np.arange(1, half + 1), np.arange(half + 91, BARS_PER_DAY + 91)]  # minutes after 09:30
    stamps = (
        pd.bdate_range("2015-01-05", periods=days).to_numpy()[:, None]
        + (pd.Timedelta(hours=9, minutes=30) + pd.to_timedelta(minutes, unit="min")).to_numpy()[None, :]
    )
    return walk_bars(pd.DatetimeIndex(stamps.ravel()), seed, 0.0008)


def five_minute_bars(minutes: pd.DataFrame) -> pd.DataFrame:
    """The minute bars as 5-minute bars, each stamped at its last minute (bars of minutes <= its time)."""
    rule = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return minutes.resample("5min", label="right", closed="right").agg(rule).dropna()


def fundamentals_for(bars: pd.DataFrame, columns: int, seed: int) -> pd.DataFrame:
    """Random factor rows dated every 20 calendar days from the first bar (as of their date)."""
    dates = pd.date_range(bars.index[0], bars.index[-1], freq="20D")
    values = np.random.default_rng(seed).normal(size=(len(dates), columns))
    return pd.DataFrame(values, index=dates, columns=[f"f{k}" for k in range(columns)])


# Part 1: training steps per model ---------------------------------------------------------------


def labels_for(name: str) -> LabelSpec:
    """The target the post trains: its registered output size says binary, three-class, a return or a path."""
    declared = get_entry(name).n_outputs
    first = declared if isinstance(declared, int) else next(iter(declared.values()))
    return {1: LabelSpec("regression"), 2: LabelSpec("binary"), 3: LabelSpec("three")}.get(
        first, LabelSpec("path", first)
    )


def window_for(name: str) -> int:
    """The post's window: the T of its (T, F) bars input, 1 for a net that reads one feature row."""
    shapes = declared_inputs(name)
    bars_input = shapes.get("features", next(iter(shapes.values())))
    return int(bars_input[0]) if len(bars_input) == 2 else 1


def model_dataset(name: str, samples: int, image_days: int, seed: int = 0) -> Dataset:
    """The set `name` trains on, by its declared inputs, with at least `samples` samples in all."""
    spec = FeatureSpec.default()
    labels = labels_for(name)
    per_day = BARS_PER_DAY if name in MINUTE_NETS else None
    layout = input_layout(declared_inputs(name), per_day)
    window = image_days if layout == IMAGES else window_for(name)
    if layout == INTRADAY:
        per_series_day = BARS_PER_DAY // 5 if name in FIVE_MINUTE_NETS else BARS_PER_DAY
        span = 1 if per_day else INTRADAY_DAYS
        minutes = minute_bars(math.ceil(spec.warmup / per_series_day) + span + samples + labels.horizon, seed)
        bars = five_minute_bars(minutes) if name in FIVE_MINUTE_NETS else minutes
        return dataset_for(name, bars, labels=labels, bars_per_day=per_day)
    n = spec.warmup + window + samples + labels.horizon
    if layout in (IMAGES, PAIRS):
        panel = {symbol: daily_bars(n, seed + k) for k, symbol in enumerate(PANEL)}
        return dataset_for(name, panel, labels=labels, window=window)
    bars = daily_bars(n, seed)
    if layout == FUNDAMENTALS:
        width = int(declared_inputs(name)["fundamentals"][0])
        return dataset_for(name, bars, labels=labels, window=window, fundamentals=fundamentals_for(bars, width, seed))
    return dataset_for(name, bars, labels=labels, window=window)


def describe_inputs(dataset: Dataset, name: str) -> str:
    """The input's kind and each input's shape per sample, e.g. `windows (60, 21)`."""
    layout = input_layout(declared_inputs(name), BARS_PER_DAY if name in MINUTE_NETS else None)
    shapes = " + ".join(str(tuple(int(d) for d in a.shape[1:])) for a in dataset.x_of(dataset.train).values())
    return f"{'minute day' if name in MINUTE_NETS else layout} {shapes}"


def train_speed(dataset: Dataset, name: str, steps: int, batch: int, device: str) -> tuple[float, int]:
    """Samples per second of one epoch of `steps` training steps of `name` on `device`, after a first,
    untimed epoch of the same steps (the warm-up), and the net's parameter count.

    It is `models.train.train` itself, on the first `steps * batch` training samples: the time between
    its two epoch ends, which besides the steps holds a validation pass over 2 samples and a copy of
    the weights when the validation loss improved (well under a step's time but for the smallest nets).
    """
    marks: list[float] = []
    needed = steps * batch
    if len(dataset.train) < needed:
        raise ValueError(
            f"{name}: {len(dataset.train)} training samples, expected >= {needed} ({steps} steps of {batch})"
        )
    small = replace(
        dataset,
        train=dataset.train.take(slice(0, needed)),
        val=dataset.val.take(slice(0, 2)),
        test=dataset.test.take(slice(0, batch)),
    )
    config = TrainConfig(epochs=2, batch_size=batch, patience=2, device=device, progress=False)
    result = train(small, name, config, on_epoch=lambda epoch, loss: marks.append(time.perf_counter()))
    return needed / (marks[1] - marks[0]), sum(p.numel() for p in result.net.parameters())


def bench_model(name: str, steps: int, batch: int, image_days: int, gpu: bool) -> ModelRow:
    """One model's row: its inputs built, its CPU steps timed, and the GPU's when asked."""
    start = resident_mib()
    reset_peak()
    # Enough samples that the 70% training split holds the steps (embargoes aside; the pairs' several
    # samples per date only add to it).
    dataset = model_dataset(name, math.ceil(steps * batch / 0.65) + 20, image_days)
    speed, params = train_speed(dataset, name, steps, batch, "cpu")
    peak = peak_mib()
    on_gpu = train_speed(dataset, name, steps, batch, "cuda")[0] if gpu else None
    return ModelRow(name, describe_inputs(dataset, name), params, speed, peak, start, on_gpu)


# Part 2: a walk-forward run with 1 and 2 workers --------------------------------------------------


def experiment_doc(args: argparse.Namespace) -> dict:
    """The walk-forward experiment: an LSTM (post sizes) on one symbol, `--folds` folds, the default baselines,
    fold models exported, on the CPU (so that a GPU machine times the same thing)."""
    return {
        "data": {"path": "bars.csv"},
        "labels": {"kind": "binary", "horizon": 1},
        "model": {"name": "lstm"},
        "window": args.fold_window,
        "train": {"epochs": args.fold_epochs, "patience": args.fold_epochs, "device": "cpu"},
        "walk_forward": {"train": args.fold_train, "test": args.fold_test},
        "seeds": 1,
    }


def bench_walk_forward(args: argparse.Namespace, folder: Path) -> WalkForward:
    """The walk-forward experiment run with 1 worker, then 2, between two measures of the machine's ceiling."""
    from signalstack.research.experiment import load_experiment
    from signalstack.research.run import run_experiment

    spec = FeatureSpec.default()
    samples = args.fold_train + 1 + args.folds * args.fold_test  # train + embargo (the horizon) + test per fold
    daily_bars(spec.warmup + args.fold_window + samples, seed=11).to_csv(folder / "bars.csv")
    (folder / "exp.yaml").write_text(yaml.safe_dump(experiment_doc(args), sort_keys=False))
    experiment = load_experiment(folder / "exp.yaml")
    before = parallel_ceiling(args.spin)
    rows = []
    for workers in (1, 2):
        reset_peak()
        with ChildPeaks(enabled=workers > 1) as children:
            began, cpu = time.perf_counter(), cpu_seconds()
            result = run_experiment(experiment, folder / "runs", workers=workers)
            seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
        rows.append(WalkRow(workers, int(result.metrics["run"]["folds"]), seconds, cpu, peak_mib(), children.peak_mib))
    resumed = bench_resume(experiment, folder / "resumed")
    ceilings = (before, parallel_ceiling(args.spin))
    return WalkForward(rows, resumed, ceilings, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)


def bench_resume(experiment: ExperimentFile, out: Path) -> Resumed:
    """The experiment with 1 worker uninterrupted, then again stopped by a real SIGINT once a third of its tasks
    are kept, then resumed: back to back in this process, which earlier runs have warmed up (imports, caches)."""
    from signalstack.research.interrupt import Interrupted
    from signalstack.research.run import resume_run, run_experiment
    from signalstack.research.runfolder import TASKS

    began, cpu = time.perf_counter(), cpu_seconds()
    total = run_experiment(experiment, out / "full", workers=1).metrics["run"]["tasks"]
    full = (time.perf_counter() - began, cpu_seconds() - cpu)
    out = out / "stopped"
    third = total // 3

    def interrupt_at_a_third() -> None:
        while len(list(out.glob(f"*/{TASKS}/*.pickle"))) < third:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # the main thread, running the next task, gets it

    watcher = threading.Thread(target=interrupt_at_a_third, daemon=True)
    began, cpu = time.perf_counter(), cpu_seconds()
    watcher.start()
    try:
        run_experiment(experiment, out, workers=1)
        raise RuntimeError(f"the run finished before {third} of its {total} tasks were kept and a signal stopped it")
    except Interrupted:
        first = (time.perf_counter() - began, cpu_seconds() - cpu)
    watcher.join()
    (path,) = out.iterdir()
    kept = [pickle.loads(p.read_bytes()) for p in (path / TASKS).glob("*.pickle")]
    began, cpu = time.perf_counter(), cpu_seconds()
    resume_run(path, workers=1)
    return Resumed(
        total,
        len(kept),
        sum(result.seconds for result in kept),
        first,
        (time.perf_counter() - began, cpu_seconds() - cpu),
        full,
    )


def bench_tracking(args: argparse.Namespace, folder: Path) -> Tracked:
    """`signalstack run` of the walk-forward experiment of `bench_walk_forward` (its files in `folder`) on 1 worker,
    `--mlflow-pairs` times in turn without tracking and with `--mlflow`, each a process of its own, as a user runs
    it: each logged run pays MLflow's import."""
    uri = args.mlflow
    if uri == "sqlite":  # made in another process, as a tracking server would be: MLflow's schema migrations run
        uri = f"sqlite:///{(folder / 'mlflow.db').resolve()}"  # once per store, and this one keeps its import to pay
        make = (
            f"import mlflow; mlflow.MlflowClient({uri!r}).create_experiment('bench', "  # artifacts beside it
            f"artifact_location={(folder / 'artifacts').resolve().as_uri()!r})"
        )
        subprocess.run(
            [sys.executable, "-c", make],
            check=True,
            capture_output=True,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
    command = [sys.executable, "-m", "signalstack.cli", "run", str(folder / "exp.yaml"), "--out", str(folder / "runs")]
    seconds: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    for _ in range(args.mlflow_pairs):
        for side, flags in enumerate(([], ["--mlflow", uri])):
            began, used = time.perf_counter(), cpu_seconds()
            subprocess.run(  # in the bench's folder: an experiment MLflow makes keeps its artifacts in ./mlruns
                command + flags,
                check=True,
                capture_output=True,
                cwd=folder,
                env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
            )
            seconds[side].append(time.perf_counter() - began)
            cpu[side].append(cpu_seconds() - used)
    return Tracked(uri, seconds, cpu)


def tracking_lines(tracked: Tracked) -> str:
    """Each pair, then the fastest of each side (the one other load on the machine slowed least)."""
    lines = [
        f"MLflow: `signalstack run` without tracking, then logged to {tracked.uri}, in turn "
        f"(wall s/CPU s): "
        + ", ".join(
            f"{a:.1f}/{b:.1f} and {c:.1f}/{d:.1f}"
            for a, b, c, d in zip(
                tracked.seconds[0], tracked.cpu_seconds[0], tracked.seconds[1], tracked.cpu_seconds[1]
            )
        )
    ]
    plain, logged = (min(side) for side in tracked.seconds)
    plain_cpu, logged_cpu = (min(side) for side in tracked.cpu_seconds)
    lines.append(
        f"fastest: {plain:.1f} s without, {logged:.1f} s with: {logged - plain:+.1f} s "
        f"({100 * (logged / plain - 1):+.1f}%) wall; {logged_cpu - plain_cpu:+.1f} CPU s "
        f"({100 * (logged_cpu / plain_cpu - 1):+.1f}%)"
    )
    return "\n".join(lines)


_SPIN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {seconds}:\n    pass\n"


def parallel_ceiling(seconds: float) -> float:
    """The parallel efficiency this machine gives two CPU-bound processes now: the wall time of one bare Python
    process burning `seconds` of CPU over that of two doing so at once (1.0: two free cores; 0.5: one)."""

    def wall(count: int) -> float:
        began = time.perf_counter()
        spinning = [
            subprocess.Popen([sys.executable, "-I", "-S", "-c", _SPIN.format(seconds=seconds)]) for _ in range(count)
        ]
        for process in spinning:
            process.wait()
        return time.perf_counter() - began

    return wall(1) / wall(2)


# Memory ------------------------------------------------------------------------------------------

_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak() -> bool:
    """Reset this process's peak resident memory to its current value (Linux); False where it cannot."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_mib() -> float:
    """This process's peak resident memory since the last reset (getrusage; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and of its children that have exited (getrusage)."""
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in used)


def resident_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    return _status_kib("self", "VmRSS") / 1024.0


def _status_kib(pid: str, field: str) -> float:
    """A `field:  N kB` line of /proc/PID/status, in KiB; 0 where the process or the line is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((float(line.split()[1]) for line in lines if line.startswith(field + ":")), 0.0)


class ChildPeaks:
    """While open, reads every `interval` seconds the peak resident memory (VmHWM) of each child process of
    this one: the workers' own peak, which they keep until they exit, so sampling misses none of it but the
    growth of their last `interval`. Children are found in /proc/self/task/*/children (Linux with
    CONFIG_PROC_CHILDREN); without those files, or when not `enabled`, `peak_mib` is None."""

    def __init__(self, enabled: bool = True, interval: float = 0.1) -> None:
        self.enabled, self.interval = enabled, interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="child-peaks", daemon=True)

    def __enter__(self) -> Self:
        if self.enabled:  # off where no worker runs, so that sampling costs that run nothing
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()

    @property
    def peak_mib(self) -> float | None:
        return max(self.peaks.values()) / 1024.0 if self.peaks else None

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            for listing in Path("/proc/self/task").glob("*/children"):
                try:
                    children = listing.read_text().split()
                except OSError:  # the thread ended
                    continue
                for pid in children:
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), _status_kib(pid, "VmHWM"))


# The table ---------------------------------------------------------------------------------------


def models_table(rows: Sequence[ModelRow], gpu: bool) -> str:
    head = f"{'model':<20}{'input':<34}{'params':>11}{'samples/s':>11}{'peak MiB':>10}{'+MiB':>7}"
    if gpu:
        head += f"{'GPU samples/s':>15}{'x CPU':>7}"
    lines = [head]
    for r in rows:
        line = (
            f"{r.name:<20}{r.input:<34}{r.params:>11,}{r.samples_per_s:>11,.0f}{r.peak_mib:>10,.0f}"
            f"{max(0.0, r.peak_mib - r.start_mib):>7,.0f}"
        )
        if gpu:
            line += (
                f"{r.gpu_samples_per_s:>15,.0f}{r.gpu_samples_per_s / r.samples_per_s:>7.1f}"
                if r.gpu_samples_per_s is not None
                else f"{'-':>15}{'-':>7}"
            )
        lines.append(line)
    return "\n".join(lines)


def walk_table(rows: Sequence[WalkRow]) -> str:
    t1 = rows[0].seconds
    head = f"{'workers':<9}{'folds':>6}{'seconds':>9}{'CPU s':>8}{'x 1 worker':>12}{'efficiency':>12}{'peak MiB':>10}"
    lines = [head + f"{'worker peak MiB':>17}"]
    for r in rows:
        efficiency = t1 / (r.workers * r.seconds)
        worker = f"{r.worker_peak_mib:>17,.0f}" if r.worker_peak_mib is not None else f"{'-':>17}"
        lines.append(
            f"{r.workers:<9}{r.folds:>6}{r.seconds:>9.1f}{r.cpu_seconds:>8.1f}{t1 / r.seconds:>12.2f}"
            f"{efficiency:>12.2f}"
            f"{r.peak_mib:>10,.0f}{worker}"
        )
    return "\n".join(lines)


def resumed_lines(r: Resumed) -> str:
    left = r.full[0] - r.kept_seconds  # what the tasks left cost in the uninterrupted run, its overhead included
    return (
        f"resumed: 1 worker, stopped by SIGINT after {r.kept} of {r.tasks} tasks, then resumed\n"
        f"  wall s: resume {r.resume[0]:.1f} against {left:.1f} for the tasks left in the uninterrupted run "
        f"({r.resume[0] / left:.2f} x); stopped part + resume {r.first[0] + r.resume[0]:.1f} against "
        f"{r.full[0]:.1f}\n"
        f"  CPU s: stopped part {r.first[1]:.1f} + resume {r.resume[1]:.1f} = {r.first[1] + r.resume[1]:.1f} "
        f"against {r.full[1]:.1f} uninterrupted ({(r.first[1] + r.resume[1]) / r.full[1]:.2f} x)"
    )


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in QUICK.items()),
    )
    parser.add_argument("--models", help=f"comma-separated zoo names (default: all {len(list_models())})")
    parser.add_argument("--steps", type=int, help=f"timed training steps per model (default {FULL['steps']})")
    parser.add_argument("--batch-size", type=int, help=f"samples per step (default {FULL['batch_size']})")
    parser.add_argument(
        "--image-days",
        type=int,
        help=f"days per factor image: (days, 21 factors, 4 symbols) (default {FULL['image_days']})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads for the model steps (default: torch's)",
    )
    parser.add_argument(
        "--gpu-models",
        default="lstm,inception",
        help="models also timed on the GPU when torch sees CUDA (default lstm,inception)",
    )
    parser.add_argument("--folds", type=int, help=f"walk-forward folds (default {FULL['folds']}; 0 skips the run)")
    parser.add_argument("--fold-train", type=int, help=f"training samples per fold (default {FULL['fold_train']})")
    parser.add_argument("--fold-test", type=int, help=f"test samples per fold (default {FULL['fold_test']})")
    parser.add_argument("--fold-epochs", type=int, help=f"epochs per fold's model (default {FULL['fold_epochs']})")
    parser.add_argument(
        "--fold-window", type=int, help=f"window of the walk-forward LSTM (default {FULL['fold_window']})"
    )
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="sqlite",
        default=None,
        metavar="URI",
        help="also time the 1-worker walk-forward run without tracking and logged to MLflow at URI "
        "(default: a SQLite file beside the run), back to back (needs signalstack[mlflow])",
    )
    parser.add_argument(
        "--mlflow-pairs",
        type=int,
        default=3,
        help="pairs of runs without and with MLflow, in turn (default 3; the fastest of each counts)",
    )
    parser.add_argument(
        "--spin", type=float, help=f"CPU seconds per process of the parallel ceiling (default {FULL['spin']})"
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for flag, names in (("--models", args.models), ("--gpu-models", args.gpu_models)):
        unknown = sorted(set(names.split(",")) - set(list_models()))
        if unknown:
            parser.error(f"{flag} {','.join(unknown)}: expected some of {', '.join(list_models())}")
    for key in (
        "steps",
        "batch_size",
        "image_days",
        "threads",
        "fold_train",
        "fold_test",
        "fold_epochs",
        "fold_window",
        "mlflow_pairs",
    ):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} {getattr(args, key)}: expected a positive integer")
    if args.batch_size < 2:
        parser.error(f"--batch-size {args.batch_size}: expected >= 2 (batch-norm nets cannot train on one sample)")
    if args.folds < 0:
        parser.error(f"--folds {args.folds}: expected >= 0")
    if not args.spin > 0:
        parser.error(f"--spin {args.spin}: expected a positive number of seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    gpu_models = set(args.gpu_models.split(",")) if cuda else set()
    resets = reset_peak()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPU(s), "
        f"{'CUDA: ' + torch.cuda.get_device_name() if cuda else 'no CUDA'}; {load()}",
        flush=True,
    )
    if not resets:
        print("no /proc/self/clear_refs: each peak MiB is the process's peak so far, not the part's own")
    print(
        f"\ntraining: an epoch of {args.steps} step(s) of {args.batch_size} samples per model, after a warm-up "
        "epoch of the same steps"
    )
    rows = []
    for name in args.models.split(","):
        rows.append(bench_model(name, args.steps, args.batch_size, args.image_days, name in gpu_models))
        print(f"  {name}: {rows[-1].samples_per_s:,.0f} samples/s", file=sys.stderr, flush=True)
    print(models_table(rows, any(row.gpu_samples_per_s is not None for row in rows)), flush=True)
    if args.folds:
        print(
            f"\nwalk-forward: run_experiment, lstm (window {args.fold_window}, {args.fold_epochs} epoch(s)), "
            f"{args.folds} folds of {args.fold_train} training + {args.fold_test} test samples, default "
            "baselines, fold models exported",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
            walk = bench_walk_forward(args, Path(folder))
            tracked = bench_tracking(args, Path(folder)) if args.mlflow else None
        print(walk_table(walk.rows))
        print(resumed_lines(walk.resumed))
        if tracked is not None:
            print(tracking_lines(tracked))
        print(
            f"ceiling: two processes each burning {args.spin:g} s of CPU in bare Python, at once against one "
            f"alone, ran at efficiency {walk.ceilings[0]:.2f} before the runs and {walk.ceilings[1]:.2f} after"
        )
        print(
            f"getrusage(RUSAGE_CHILDREN) at the end: {walk.children_mib:,.0f} MiB, the largest child peak, each "
            "of which starts from this process's peak when it spawned that child (not a worker's own figure)"
        )
    print(f"\n{load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
