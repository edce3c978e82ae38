"""The `signalstack` command: train, serve, backtest, demo, models, info.

Each subcommand imports what it needs when it runs, so `signalstack serve` never loads torch.
Library errors become one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("signalstack")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    _quiet_third_parties()
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's job is to turn any failure into one line
        if args.verbose:
            raise
        print(f"signalstack {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    if callable(details):  # a grpc.RpcError: status code and the server's message
        return f"{exc.code().name}: {details()}"
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _quiet_third_parties() -> None:
    for name in ("onnx_ir", "onnxscript", "torch.onnx", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signalstack", description="Deep-learning signals for Backtrader: "
                                     "train in PyTorch, export to ONNX, serve over gRPC, backtest.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a zoo model on OHLCV bars and export it to ONNX",
                       description="Train on the first 70%% of the bars (by time), validate on the next 15%%, "
                       "report test metrics on the last 15%%, with an embargo of the horizon between splits.")
    p.add_argument("--data", required=True, help="CSV of OHLCV bars, or sample:sp500 / sample:nasdaq")
    p.add_argument("--model", default="lstm", help="zoo architecture (see `signalstack models`); default lstm")
    p.add_argument("--out", required=True, type=Path, help="output FILE.onnx; training artefacts go to FILE.training/")
    p.add_argument("--horizon", type=int, default=None, help="label horizon in bars (default 1; 14 for --labels three)")
    p.add_argument("--labels", choices=("binary", "three", "regression"), default="binary")
    p.add_argument("--window", type=int, default=60, help="bars per input window (default 60)")
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs (early stopping may end sooner)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--patience", type=int, default=5, help="epochs without validation improvement before stopping")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture parameter, e.g. --param hidden=32,32 --param dropout=0.3")
    p.set_defaults(run=_train)

    p = sub.add_parser("serve", help="serve a folder of ONNX models over gRPC",
                       description="Loads every *.onnx in --models (a model is named by its file's stem) into "
                       "onnxruntime (CUDA when it works, else CPU) and serves signalstack.v1.SignalService "
                       "with gRPC health checking and reflection. Stops gracefully on SIGTERM or Ctrl-C.")
    p.add_argument("--models", required=True, type=Path, help="folder of *.onnx files")
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--max-workers", type=int, default=8, help="threads handling calls")
    p.set_defaults(run=_serve)

    p = sub.add_parser("backtest", help="backtest a model's signals in Backtrader against buy-and-hold",
                       description="Runs SignalStrategy over the model's out-of-sample period (from its "
                       "test_range start) unless --start says otherwise. Orders fill at the next bar's open.")
    p.add_argument("--model", required=True, help="FILE.onnx (in process), or a model name with --server")
    p.add_argument("--data", required=True, help="CSV of OHLCV bars, or sample:sp500 / sample:nasdaq")
    p.add_argument("--server", metavar="HOST:PORT", help="score through a running signalstack server")
    p.add_argument("--out", type=Path, help="report folder (equity PNG, trades.csv, stats.json)")
    p.add_argument("--start", help="first decision date (default: the model's test period start)")
    p.add_argument("--buy-threshold", type=float, default=0.55)
    p.add_argument("--sell-threshold", type=float, default=0.45)
    p.add_argument("--allow-short", action="store_true")
    p.add_argument("--stake", type=float, default=0.95, help="fraction of equity per position")
    p.add_argument("--cash", type=float, default=100_000.0)
    p.add_argument("--commission", type=float, default=0.001, help="fraction of traded value")
    p.add_argument("--slippage", type=float, default=0.0005, help="fraction of price, against the order")
    p.set_defaults(run=_backtest)

    p = sub.add_parser("demo", help="train, export, serve and backtest on bundled S&P 500 bars",
                       description="The whole workflow on data a dependency ships: train an LSTM on S&P 500 "
                       "daily bars, export it, serve it on a free local port, backtest through the server.")
    p.add_argument("--out", type=Path, default=Path("signalstack-demo"), help="output folder")
    p.add_argument("--data", default="sample:sp500", help="bars to use (default sample:sp500)")
    p.add_argument("--epochs", type=int, default=15)
    p.set_defaults(run=_demo)

    p = sub.add_parser("models", help="list the zoo's architectures and their parameters")
    p.set_defaults(run=_models)

    p = sub.add_parser("info", help="print an ONNX model's card (features, scaler, ranges, metrics)")
    p.add_argument("model", type=Path, help="FILE.onnx")
    p.set_defaults(run=_info)
    return parser


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings to typed values: ints, floats, comma lists (as tuples), true/false, text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {pair!r}: expected KEY=VALUE")
        items = [_scalar(v) for v in raw.split(",")]
        out[key] = tuple(items) if "," in raw else items[0]
    return out


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _train(args: argparse.Namespace) -> None:
    from signalstack.models.data import load_bars
    from signalstack.models.labels import LabelSpec
    from signalstack.models.pipeline import train_and_export
    from signalstack.models.train import TrainConfig

    horizon = args.horizon or (14 if args.labels == "three" else 1)
    labels = LabelSpec.three_class(horizon) if args.labels == "three" else LabelSpec(args.labels, horizon)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                         patience=args.patience, seed=args.seed, device=args.device)
    bars = load_bars(args.data)
    trained = train_and_export(bars, args.out, architecture=args.model, labels=labels, window=args.window,
                               config=config, data_source=args.data, params=_parse_params(args.param))
    print(_format_metrics(trained.card.metrics, trained.card.test_range))
    print(f"model:     {trained.path}  (parity with torch {trained.parity:.1e})")
    print(f"artefacts: {trained.artefacts}/  (checkpoint.pt, training.png, metrics.json)")


def _format_metrics(metrics: dict[str, float], test_range: tuple[str, str]) -> str:
    lines = [f"test split {test_range[0][:10]} .. {test_range[1][:10]} (out of sample)"]
    lines += [f"  {key:<18} {value:.4f}" for key, value in metrics.items() if key != "samples"]
    lines.append(f"  {'samples':<18} {int(metrics['samples'])}")
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> None:
    from signalstack.server.app import serve

    serve(args.models, host=args.host, port=args.port, max_workers=args.max_workers)


def _backtest(args: argparse.Namespace) -> None:
    from signalstack.models.data import load_bars
    from signalstack.plugin.backtest import run_backtest
    from signalstack.plugin.report import format_report, write_report
    from signalstack.plugin.sources import GrpcSource, OnnxSource

    source = GrpcSource(args.server, args.model) if args.server else OnnxSource(Path(args.model))
    result = run_backtest(source, load_bars(args.data), start=args.start, cash=args.cash,
                          commission=args.commission, slippage=args.slippage, buy_threshold=args.buy_threshold,
                          sell_threshold=args.sell_threshold, allow_short=args.allow_short, stake=args.stake)
    print(format_report(result))
    if args.out:
        for path in write_report(result, args.out):
            print(f"wrote {path}")


def _demo(args: argparse.Namespace) -> None:
    from signalstack.plugin.demo import run_demo

    run_demo(args.out, data=args.data, epochs=args.epochs)


def _models(args: argparse.Namespace) -> None:
    from signalstack.models.zoo import get_entry, list_models

    for name in list_models():
        entry = get_entry(name)
        params = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
        print(f"{name:<16} {entry.summary}\n{'':<16} inputs: {', '.join(entry.input_names)}; params: {params}")


def _info(args: argparse.Namespace) -> None:
    import json

    from signalstack.server.runtime import OnnxModel

    model = OnnxModel(args.model, providers=["CPUExecutionProvider"])
    print(json.dumps(json.loads(model.card.to_json()), indent=2))


if __name__ == "__main__":
    sys.exit(main())
