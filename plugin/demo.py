"""`signalstack demo`: the whole workflow on bundled S&P 500 bars, in one process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

MODEL_NAME = "lstm_sp500"
STAGES = 5


@contextlib.contextmanager
def _stage(progress: tqdm, name: str) -> Iterator[None]:
    progress.set_postfix_str(name)
    yield
    progress.update()


def run_demo(out: Path, *, data: str = "sample:sp500", epochs: int = 15, window: int = 60,
             params: dict[str, Any] | None = None) -> Path:
    """Train an LSTM, export it, serve it on a free 127.0.0.1 port, backtest through the server.

    Prints the report and where the files are; returns the report folder. The server is
    stopped before returning, also on failure.
    """
    from signalstack.models.data import load_bars
    from signalstack.models.pipeline import train_and_export
    from signalstack.models.train import TrainConfig
    from signalstack.server.app import build_server
    from signalstack.server.repository import ModelRepository

    from .backtest import run_backtest
    from .report import format_report, write_report
    from .sources import GrpcSource

    out = Path(out)
    models_dir = out / "models"
    report_dir = out / "report"
    with tqdm(total=STAGES, desc="demo", unit="stage") as progress:
        with _stage(progress, "load bars"):
            bars = load_bars(data)
        with _stage(progress, "train + export"):
            trained = train_and_export(bars, models_dir / f"{MODEL_NAME}.onnx", window=window, data_source=data,
                                       config=TrainConfig(epochs=epochs), params=params)
        with _stage(progress, "start server"):
            server, port = build_server(ModelRepository(models_dir), host="127.0.0.1", port=0)
            server.start()
        try:
            with _stage(progress, f"backtest via gRPC 127.0.0.1:{port}"):
                result = run_backtest(GrpcSource(f"127.0.0.1:{port}", MODEL_NAME), bars)
            with _stage(progress, "write report"):
                written = write_report(result, report_dir)
        finally:
            server.stop(grace=2.0)
    print(format_report(result))
    print(f"\nmodel:     {trained.path}  (its card: signalstack info {trained.path})")
    print(f"training:  {trained.artefacts}/")
    for path in written:
        print(f"report:    {path}")
    return report_dir
