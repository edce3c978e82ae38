"""`signalstack tune`: an Optuna search over an experiment's `search:` space, on validation tails only."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from signalstack.cli.common import INTERRUPTED
from signalstack.research import search


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="hyperparameter search with Optuna, on validation tails",
        description="Search the experiment's `search:` space with Optuna: each trial trains on the "
        "first `search.folds` walk-forward folds (default 1) with seed 0 and scores the mean best "
        "validation loss (test periods are never read); bad trials are pruned per epoch. The study "
        "resumes from its storage. Writes OUT/trials.csv, OUT/plots/*.png and OUT/best.yaml (the "
        "experiment with the best values: `signalstack run OUT/best.yaml`). With --ray-address the "
        "trials run on a Ray cluster through Ray Tune (OptunaSearch, ASHA early stopping), with the "
        "same objective, study and outputs. The search keys: see signalstack.research.search.",
    )
    p.add_argument("experiment", type=Path, metavar="EXP.yaml", help="the experiment file, with a search: section")
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help=f"the study's total number of trials, counting those already in its storage (default: "
        f"search.trials, else {search.TRIALS}); a study that has them runs none",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="sqlite:///FILE.db, journal:FILE (several processes on one host) or any SQLAlchemy URL "
        "(a cluster); default sqlite:///OUT/study.db",
    )
    p.add_argument(
        "--study", default=None, help="the study's name in the storage (default: the experiment file's stem)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(search.OUT),
        help=f"folder for the study, trials.csv, plots/ and best.yaml (default {search.OUT})",
    )
    p.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS") or None,
        metavar="ADDR",
        help="run the trials on this Ray cluster with Ray Tune (one CPU each, as many at once as it has "
        "CPUs; ASHA stops bad trials when search.pruner is median): `local` starts one here, `auto` "
        "finds a running one, or HOST:PORT / ray://HOST:PORT (ray:// needs a database --storage) "
        "(default: the RAY_ADDRESS environment variable; unset: Optuna in this process). "
        "Needs pip install 'signalstack[ray]'",
    )
    p.add_argument(
        "--mlflow",
        default=None,
        metavar="URI",
        help="also log the study to MLflow at this tracking URI (http://HOST:PORT, sqlite:///FILE.db, a "
        "folder): a parent run for the study and a nested run per trial, under the experiment file's "
        "name, overriding the file's tracking.mlflow. Needs pip install 'signalstack[mlflow]'",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import optuna

    from signalstack.research.experiment import load_experiment
    from signalstack.research.tracking import tracked
    from signalstack.research.tune import storage_url, tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # signalstack logs one line per trial
    logging.getLogger("signalstack").setLevel(logging.INFO)
    experiment = tracked(load_experiment(args.experiment), args.mlflow, args.experiment.stem)
    name = args.study or args.experiment.stem
    if args.ray_address:
        from signalstack.research.ray_tune import tune_on_ray

        result = tune_on_ray(
            experiment,
            args.out,
            ray_address=args.ray_address,
            trials=args.trials,
            storage=args.storage,
            study_name=name,
        )
    else:
        result = tune(experiment, args.out, trials=args.trials, storage=args.storage, study_name=name)
    states = result.table["state"].value_counts().to_dict() if len(result.table) else {}
    where = f" (trials on Ray at {args.ray_address})" if args.ray_address else ""
    print(
        f"study {name!r} in {storage_url(args.storage, args.out)}{where}: {len(result.table)} trial(s) "
        f"({', '.join(f'{n} {s.lower()}' for s, n in sorted(states.items()))})"
    )
    if result.best is not None:
        best = result.study.best_trial
        print(f"best: trial {best.number}, validation loss {best.value:.6f}, {best.params}")
        print(f"best experiment: {result.best}  (signalstack run {result.best})")
    else:
        print("no trial completed: no best.yaml")
    print(f"trials: {result.out / 'trials.csv'}; plots: {', '.join(str(p) for p in result.plots.values()) or 'none'}")
    for plot, why in result.skipped.items():
        print(f"plot {plot} skipped: {why}")
    if result.interrupted:
        print(
            f"signalstack tune: interrupted by {result.interrupted}: the trial it cut short is not counted; the "
            "same command continues the study",
            file=sys.stderr,
        )
        return INTERRUPTED
    return 0
