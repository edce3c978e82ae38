"""`signalstack demo`: the whole workflow on bundled S&P 500 bars, in one process."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from signalstack.models.config import WINDOW, TrainConfig

MODEL_NAME = "lstm_sp500"
STAGES = 5
EPOCHS = 15
"""Fewer than `train`'s default: early stopping ends the demo's LSTM sooner than that anyway."""


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train, export, serve and backtest on bundled S&P 500 bars",
        description="The whole workflow on data a dependency ships: train an LSTM on S&P 500 "
        "daily bars, export it, serve it on a free local port, backtest through the server.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("signalstack-demo"), help="output folder (default signalstack-demo)"
    )
    p.add_argument("--data", default="sample:sp500", help="bars to use (default sample:sp500)")
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"maximum epochs (default {EPOCHS})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    run_demo(args.out, data=args.data, epochs=args.epochs)


@contextlib.contextmanager
def _stage(progress: tqdm, name: str) -> Iterator[None]:
    progress.set_postfix_str(name)
    yield
    progress.update()


def run_demo(
    out: Path,
    *,
    data: str = "sample:sp500",
    epochs: int = EPOCHS,
    window: int = WINDOW,
    params: dict[str, Any] | None = None,
) -> Path:
    """Train an LSTM, export it, serve it on a free 127.0.0.1 port, backtest through the server.

    Prints the report and where the files are; returns the report folder. The server is
    stopped before returning, also on failure.
    """
    from signalstack.core.bars import load_bars
    from signalstack.models.pipeline import train_and_export
    from signalstack.plugin.backtest import run_backtest
    from signalstack.plugin.report import format_report, write_report
    from signalstack.plugin.sources import GrpcSource
    from signalstack.server.app import SignalServer
    from signalstack.server.options import ServeOptions

    out = Path(out)
    models_dir = out / "models"
    report_dir = out / "report"
    with tqdm(total=STAGES, desc="demo", unit="stage") as progress:
        with _stage(progress, "load bars"):
            bars = load_bars(data)
        with _stage(progress, "train + export"):
            trained = train_and_export(
                bars,
                models_dir / f"{MODEL_NAME}.onnx",
                window=window,
                data_source=data,
                config=TrainConfig(epochs=epochs),
                params=params,
            )
        with _stage(progress, "start server"):
            server = SignalServer(ServeOptions(models_dir, grace=2.0))
        with server:
            with _stage(progress, f"backtest via gRPC {server.address}"):
                result = run_backtest(GrpcSource(server.address, MODEL_NAME), bars)
            with _stage(progress, "write report"):
                written = write_report(result, report_dir)
    print(format_report(result))
    print(f"\nmodel:     {trained.path}  (its card: signalstack info {trained.path})")
    print(f"training:  {trained.artefacts}/")
    for path in written:
        print(f"report:    {path}")
    return report_dir
