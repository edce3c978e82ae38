"""`signalstack train`: features -> windows -> a zoo model -> one ONNX file with its card."""

from __future__ import annotations

import argparse
from pathlib import Path

from signalstack.core.errors import SettingsError
from signalstack.core.labels import LABEL_KINDS
from signalstack.models.config import INTRADAY_DAYS, WINDOW, TrainConfig

from .common import parse_params
from .flags import add_flags, settings_from


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a zoo model on OHLCV bars and export it to ONNX",
        description="Train on the first 70% of the samples (by time), validate on the next 15%, "
        "report test metrics on the last 15%, with an embargo of the horizon between splits. The "
        "samples are what the model's inputs ask for: windows of one series; day x intraday blocks "
        "of intraday bars; factor images or pairs of several --data; fundamentals beside windows.",
    )
    p.add_argument(
        "--data",
        required=True,
        action="append",
        metavar="BARS",
        help="CSV of OHLCV bars, or sample:sp500 / sample:nasdaq; repeat for the nets that read "
        "several symbols (rank: pairs of them; inception: one image channel each, labelled on the "
        "first), each named by its file stem or as SYMBOL=PATH",
    )
    p.add_argument(
        "--model", default="lstm", help="zoo architecture (see `signalstack models`) or a spec file; default lstm"
    )
    p.add_argument("--out", required=True, type=Path, help="output FILE.onnx; training artefacts go to FILE.training/")
    p.add_argument("--horizon", type=int, default=None, help="label horizon in bars (default 1; 14 for --labels three)")
    p.add_argument(
        "--labels",
        choices=[k for k in LABEL_KINDS if k != "pair"],
        default="binary",
        help="path: the next --horizon returns, for many-to-many regressors (lstm_regressor_seq)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=WINDOW,
        help=f"bars per input window, and days per factor image (default {WINDOW})",
    )
    p.add_argument(
        "--days",
        type=int,
        metavar="N",
        help=f"days per sample of day x intraday nets (hier_lstm, td_cnn_lstm; default {INTRADAY_DAYS})",
    )
    p.add_argument(
        "--bars-per-day",
        type=int,
        metavar="N",
        help="intraday bars per day block: each day's last N "
        "bars, shorter days skipped (default: the most common number of bars per date in --data); "
        "with a (T, F) net such as cnn1d it selects one-day blocks of intraday bars",
    )
    p.add_argument(
        "--image",
        metavar="H,W",
        help="reshape each symbol's factor image (--window days x features) "
        "to H x W, e.g. 224,224 for inception's post (default: not reshaped)",
    )
    p.add_argument(
        "--pairs-per-date",
        type=int,
        metavar="N",
        help="ordered pairs of symbols drawn per date for rank (default: all of them)",
    )
    p.add_argument(
        "--fundamentals",
        metavar="CSV",
        help="dated fundamental factors (first column: the date each row "
        "became known) for the two-input nets dual_rnn, dual_lstm and multitask",
    )
    add_flags(p, TrainConfig, skip=("weight_decay", "clip_norm", "progress"))
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture parameter, e.g. --param hidden=32,32 --param dropout=0.3",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.core.bars import load_bars, load_symbols, named_spec
    from signalstack.core.fundamentals import load_fundamentals
    from signalstack.core.labels import LabelSpec

    labels = LabelSpec.three_class() if args.labels == "three" else LabelSpec(args.labels)
    if args.horizon is not None:
        labels = LabelSpec(labels.kind, args.horizon, labels.up, labels.down)
    config = settings_from(TrainConfig, args)
    image = parse_image(args.image) if args.image is not None else None
    bars = load_bars(args.data[0]) if len(args.data) == 1 and not named_spec(args.data[0]) else load_symbols(args.data)
    fundamentals = load_fundamentals(args.fundamentals) if args.fundamentals else None

    from signalstack.models.pipeline import train_and_export  # torch: after the data is known to be good

    trained = train_and_export(
        bars,
        args.out,
        architecture=args.model,
        labels=labels,
        window=args.window,
        config=config,
        data_source=" ".join(args.data),
        params=parse_params(args.param),
        fundamentals=fundamentals,
        days=args.days,
        bars_per_day=args.bars_per_day,
        image=image,
        pairs_per_date=args.pairs_per_date,
    )
    print(format_metrics(trained.card.metrics, trained.card.test_range))
    print(f"model:     {trained.path}  (parity with torch {trained.parity:.1e})")
    print(f"artefacts: {trained.artefacts}/  (checkpoint.pt, training.png, metrics.json)")


def format_metrics(metrics: dict[str, float], test_range: tuple[str, str]) -> str:
    """The test split's metrics, one per line, counts last."""
    lines = [f"test split {test_range[0][:10]} .. {test_range[1][:10]} (out of sample)"]
    # A multi-output model's metrics are named per output ("probabilities.accuracy", "forecast.samples").
    width = max(map(len, metrics), default=0) + 1
    lines += [
        f"  {key:<{width}} {int(value) if key.endswith('samples') else f'{value:.4f}'}"
        for key, value in sorted(metrics.items(), key=lambda item: item[0].endswith("samples"))
    ]
    return "\n".join(lines)


def parse_image(text: str) -> tuple[int, int]:
    """HEIGHT,WIDTH of --image."""
    parts = text.replace("x", ",").split(",")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise SettingsError(f"--image {text}: expected HEIGHT,WIDTH, two positive integers such as 224,224") from None
    if min(height, width) < 1:
        raise SettingsError(f"--image {text}: expected HEIGHT,WIDTH, two positive integers such as 224,224")
    return height, width
