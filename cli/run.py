"""`signalstack run`: an experiment file's walk-forward folds x seeds, baselines and surrogates, out of sample."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from signalstack.cli.common import INTERRUPTED
from signalstack.core.errors import SettingsError
from signalstack.research import defaults

if TYPE_CHECKING:
    from signalstack.research.run import RunResult


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="walk-forward folds, seeds, baselines and surrogates",
        description="Train the experiment's model on every walk-forward fold with each seed, fit the "
        "naive baselines on the same training rows, rerun the model on surrogate series with no "
        "signal, and score everything on the test periods only. Writes OUT/<run id>/ (experiment.yaml, "
        "metrics.json, predictions.csv, models/, report/, run.log) and prints the metrics table. "
        "Ctrl-C (or SIGTERM) stops it with the finished tasks kept: --resume RUN_DIR goes on. "
        "The experiment file's keys: see signalstack.research.settings.",
    )
    p.add_argument("experiment", type=Path, metavar="EXP.yaml", nargs="?", help="the experiment file")
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue the interrupted run in RUN_DIR (its experiment.yaml, its finished tasks kept) "
        "instead of starting one; refused if its experiment file or its data changed since",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(defaults.OUT),
        help=f"folder the run's folder is made in (default {defaults.OUT})",
    )
    p.add_argument("--seeds", type=int, default=argparse.SUPPRESS, help="seeds per fold, overriding the file's `seeds`")
    p.add_argument(
        "--workers",
        type=int,
        default=defaults.WORKERS,
        help=f"processes running the tasks side by side (default {defaults.WORKERS}: in this process)",
    )
    p.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS") or None,
        metavar="ADDR",
        help="run the tasks as Ray tasks (one CPU each) on this Ray cluster: `local` starts one here "
        "(with --workers CPUs when above 1), `auto` finds a running one, or HOST:PORT / ray://HOST:PORT "
        "(default: the RAY_ADDRESS environment variable; unset: not on Ray). "
        "Needs pip install 'signalstack[ray]'",
    )
    p.add_argument(
        "--mlflow",
        default=None,
        metavar="URI",
        help="also log the run to MLflow at this tracking URI (http://HOST:PORT, sqlite:///FILE.db, a "
        "folder), under the experiment file's name, overriding the file's tracking.mlflow. "
        "Needs pip install 'signalstack[mlflow]'",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (there is none either when stderr is not a terminal)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from signalstack.research.interrupt import Interrupted
    from signalstack.research.summary import format_table, verdicts

    progress = not args.quiet and sys.stderr.isatty()
    try:
        result = _run_or_resume(args, progress)
    except Interrupted as stopped:
        print(f"signalstack run: {stopped}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:
        print("signalstack run: interrupted before any task ran: nothing kept", file=sys.stderr)
        return INTERRUPTED
    run = result.metrics["run"]
    print(
        f"{run['model']} on {run['data']}: {run['folds']} walk-forward folds x {run['seeds']} seed(s), "
        f"{run['surrogates']} {run['surrogate_kind']} surrogates; test periods only"
    )
    print(format_table(result.metrics))
    print("\n".join(verdicts(result.metrics)))
    print(f"run folder: {result.path}/  (metrics.json, predictions.csv, report/index.html, report/summary.txt)")
    return 0


def _run_or_resume(args: argparse.Namespace, progress: bool) -> RunResult:
    from signalstack.cli.flags import settings_from
    from signalstack.research.experiment import load_experiment
    from signalstack.research.run import resume_run, run_experiment
    from signalstack.research.settings import ExperimentFile
    from signalstack.research.tracking import tracked

    options = {"workers": args.workers, "ray_address": args.ray_address, "progress": progress}
    if args.resume is not None:
        if args.experiment is not None or hasattr(args, "seeds") or args.mlflow is not None:
            raise SettingsError(
                f"--resume {args.resume}: runs the experiment.yaml of that folder (and logs the run "
                "where its tracking section says), expected no EXP.yaml, --seeds or --mlflow beside it"
            )
        return resume_run(args.resume, **options)
    if args.experiment is None:
        raise SettingsError("expected an experiment file EXP.yaml (or --resume RUN_DIR)")
    experiment = settings_from(ExperimentFile, args, load_experiment(args.experiment).model_dump(), source="--seeds")
    return run_experiment(tracked(experiment, args.mlflow, args.experiment.stem), args.out, **options)
