"""The `signalstack` command: train, serve, export-triton, backtest, demo, models, summary, info.

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
    p.add_argument("--labels", choices=("binary", "three", "regression", "path"), default="binary",
                   help="path: the next --horizon returns, for many-to-many regressors (lstm_regressor_seq)")
    p.add_argument("--window", type=int, default=60, help="bars per input window (default 60)")
    p.add_argument("--fundamentals", metavar="CSV", help="dated fundamental factors (first column: the date each row "
                   "became known) for the two-input nets dual_rnn, dual_lstm and multitask")
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

    p = sub.add_parser("serve", help="serve a model repository over gRPC (SignalService + Open Inference Protocol)",
                       description="Loads DIR/<model>/<version>/model.onnx (and DIR/<name>.onnx as version 1) "
                       "into onnxruntime (CUDA when it works, else CPU), serves signalstack.v1.SignalService and "
                       "inference.GRPCInferenceService on one port with health checking and reflection, watches "
                       "the folder for new or removed versions, and drains in-flight calls on SIGTERM or Ctrl-C.")
    p.add_argument("--models", required=True, type=Path, help="model repository folder")
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--call-threads", type=int, default=4,
                   help="threads answering unary calls and scoring streamed bars (more wait their turn; raise it "
                   "for large models or a GPU, so that batches fill)")
    p.add_argument("--stream-threads", type=int, default=16,
                   help="threads for streaming calls: each open stream holds one")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--grace", type=float, default=5.0, help="seconds in-flight calls get to finish on shutdown")
    p.add_argument("--watch-interval", type=float, default=2.0, help="seconds between folder rescans (0: off)")
    p.add_argument("--max-batch-size", type=int, default=64, help="dynamic batching: windows per run (1: off)")
    p.add_argument("--max-delay-us", type=int, default=0, help="dynamic batching: wait for company, microseconds")
    p.add_argument("--model-batching", action="append", default=[], metavar="NAME=SIZE[:DELAY_US[:INSTANCES]]",
                   help="per-model batching override; repeatable")
    p.add_argument("--intra-op-threads", type=int, default=1, help="onnxruntime threads per inference")
    p.add_argument("--max-message-mb", type=int, default=256, help="largest request or response")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain: serve over TLS")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key, with --tls-cert")
    p.add_argument("--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA")
    p.add_argument("--token-file", type=Path, help="bearer tokens, one per line; calls without one are refused "
                   "(health stays open)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.set_defaults(run=_serve)

    p = sub.add_parser("export-triton", help="write a Triton model repository for a folder of models",
                       description="config.pbtxt (inputs, outputs, dynamic batching) and version folders for "
                       "every loadable model, for Triton Inference Server or KServe.")
    p.add_argument("--models", required=True, type=Path, help="signalstack model repository folder")
    p.add_argument("--out", required=True, type=Path, help="Triton repository folder to write")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-delay-us", type=int, default=100)
    p.set_defaults(run=_export_triton)

    p = sub.add_parser("backtest", help="backtest a model's signals in Backtrader against buy-and-hold",
                       description="Runs SignalStrategy over the model's out-of-sample period (from its "
                       "test_range start) unless --start says otherwise. Orders fill at the next bar's open. "
                       "Several --data give one report per symbol and a portfolio page; --sweep backtests a "
                       "grid of parameters in parallel processes and tabulates them.")
    p.add_argument("--model", required=True, help="FILE.onnx (in process), FILE.csv of precomputed predictions "
                   "(time column, then down/up, forecast or score), grpc://HOST:PORT/MODEL, or a model name "
                   "with --server")
    p.add_argument("--data", required=True, action="append", metavar="BARS",
                   help="CSV of OHLCV bars, or sample:sp500 / sample:nasdaq; repeat for several symbols")
    p.add_argument("--server", metavar="HOST:PORT", help="score through a running signalstack server")
    p.add_argument("--token", help="bearer token for the server (default: $SIGNALSTACK_TOKEN)")
    p.add_argument("--tls-ca", type=Path, metavar="PEM", help="CA certificate of the server: connect with TLS")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="client certificate, for servers that verify clients")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="client private key, with --tls-cert")
    p.add_argument("--out", type=Path, help="report folder (report.html, PNG charts, trades.csv, stats.json, "
                   "config.json; a folder per symbol and index.html for several --data; sweep.csv for --sweep)")
    p.add_argument("--start", help="first decision date (default: the model's test period start)")
    p.add_argument("--fundamentals", metavar="CSV", help="dated fundamental factors for a two-input model "
                   "(the columns its card names; first column: the date each row became known)")
    p.add_argument("--line", default="p_up", choices=("p_up", "forecast", "score"),
                   help="indicator line the thresholds apply to (forecast for a regression model)")
    p.add_argument("--buy-threshold", type=float, default=0.55)
    p.add_argument("--sell-threshold", type=float, default=0.45)
    p.add_argument("--allow-short", action="store_true")
    p.add_argument("--sizing", choices=("percent", "fixed", "volatility"), default="percent",
                   help="percent: --stake of equity; fixed: --stake units; volatility: --vol-target, at most --stake")
    p.add_argument("--stake", type=float, default=0.95, help="fraction of equity per position (units with fixed)")
    p.add_argument("--vol-target", type=float, default=0.15, help="annualised volatility to size for")
    p.add_argument("--stop-loss", type=float, help="exit when a close is this fraction against the entry")
    p.add_argument("--take-profit", type=float, help="exit when a close is this fraction beyond the entry")
    p.add_argument("--hold", default="0", help="bars to hold each position, or 'horizon' for the model's (default 0)")
    p.add_argument("--min-margin", type=float, default=0.0, help="ignore bars with |p_up - p_down| below this")
    p.add_argument("--cash", type=float, default=100_000.0)
    p.add_argument("--commission", type=float, default=0.001, help="fraction of traded value")
    p.add_argument("--slippage", type=float, default=0.0005, help="fraction of price, against the order")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=START:STOP:STEP",
                   help="sweep a run_backtest parameter (STOP included, or NAME=V1,V2,...); repeat for a grid")
    p.add_argument("--workers", type=int, default=2, help="processes for --sweep (default 2)")
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

    p = sub.add_parser("summary", help="a Keras-style table of a model's layers, output shapes and parameters",
                       description="MODEL is a zoo name (input shapes default to the reference post's) or a "
                       "spec file (.yaml/.yml/.json). Parameter counts are given for torch and Keras: torch's "
                       "recurrent layers carry two bias vectors where Keras has one.")
    p.add_argument("model", help="zoo name or spec file")
    p.add_argument("--input", action="append", default=[], metavar="NAME=D1,D2",
                   help="input shape without the batch axis, e.g. --input features=60,21; repeatable")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="architecture parameter")
    p.set_defaults(run=_summary)

    p = sub.add_parser("info", help="print an ONNX model's card (features, scaler, ranges, metrics)")
    p.add_argument("model", type=Path, help="FILE.onnx")
    p.set_defaults(run=_info)
    return parser


def _key_value(pair: str, flag: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} {pair!r}: expected KEY=VALUE")
    return key, value


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings to typed values: ints, floats, comma lists (as tuples), true/false, text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, raw = _key_value(pair, "--param")
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
    from signalstack.models.fundamentals import load_fundamentals
    from signalstack.models.labels import LabelSpec
    from signalstack.models.pipeline import train_and_export
    from signalstack.models.train import TrainConfig

    horizon = args.horizon or (14 if args.labels == "three" else 1)
    labels = LabelSpec.three_class(horizon) if args.labels == "three" else LabelSpec(args.labels, horizon)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                         patience=args.patience, seed=args.seed, device=args.device)
    bars = load_bars(args.data)
    fundamentals = load_fundamentals(args.fundamentals) if args.fundamentals else None
    trained = train_and_export(bars, args.out, architecture=args.model, labels=labels, window=args.window,
                               config=config, data_source=args.data, params=_parse_params(args.param),
                               fundamentals=fundamentals)
    print(_format_metrics(trained.card.metrics, trained.card.test_range))
    print(f"model:     {trained.path}  (parity with torch {trained.parity:.1e})")
    print(f"artefacts: {trained.artefacts}/  (checkpoint.pt, training.png, metrics.json)")


def _format_metrics(metrics: dict[str, float], test_range: tuple[str, str]) -> str:
    lines = [f"test split {test_range[0][:10]} .. {test_range[1][:10]} (out of sample)"]
    # A multi-output model's metrics are named per output ("probabilities.accuracy", "forecast.samples").
    width = max(map(len, metrics), default=0) + 1
    lines += [f"  {key:<{width}} {int(value) if key.endswith('samples') else f'{value:.4f}'}"
              for key, value in sorted(metrics.items(), key=lambda item: item[0].endswith("samples"))]
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> None:
    from signalstack.server.app import serve

    if args.log_format == "json":
        from signalstack.server.logs import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    overrides = dict(_key_value(text, "--model-batching") for text in args.model_batching)
    serve(args.models, host=args.host, port=args.port, call_threads=args.call_threads,
          stream_threads=args.stream_threads, grace=args.grace,
          workers=args.workers, tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
          token_file=args.token_file, metrics_port=args.metrics_port, metrics_host=args.metrics_host,
          watch_interval=args.watch_interval, max_batch_size=args.max_batch_size, max_delay_us=args.max_delay_us,
          model_batching=overrides, intra_op_threads=args.intra_op_threads,
          max_message_bytes=args.max_message_mb << 20)


def _export_triton(args: argparse.Namespace) -> None:
    from signalstack.server.batching import BatchPolicy
    from signalstack.server.triton import export_triton

    for path in export_triton(args.models, args.out, batching=BatchPolicy(args.max_batch_size, args.max_delay_us)):
        print(f"wrote {path}")


def _backtest(args: argparse.Namespace) -> None:
    import os

    from signalstack.models.fundamentals import load_fundamentals
    from signalstack.plugin.backtest import run_backtest
    from signalstack.plugin.feeds import load_symbols
    from signalstack.plugin.report import format_portfolio, format_report, write_portfolio, write_report
    from signalstack.plugin.sources import open_source
    from signalstack.plugin.sweep import format_sweep, run_sweep, sweep_grid

    spec = f"grpc://{args.server}/{args.model}" if args.server else args.model
    pem = {"root_certificates": args.tls_ca, "certificate_chain": args.tls_cert, "private_key": args.tls_key}
    security = {key: path.read_bytes() for key, path in pem.items() if path is not None}
    token = args.token or os.environ.get("SIGNALSTACK_TOKEN")
    if token and (args.server or spec.startswith("grpc://")):
        security["token"] = token
    hold = args.hold if args.hold == "horizon" else int(args.hold)
    settings = dict(start=args.start, cash=args.cash, commission=args.commission, slippage=args.slippage,
                    line=args.line, buy_threshold=args.buy_threshold, sell_threshold=args.sell_threshold,
                    allow_short=args.allow_short, sizing=args.sizing, stake=args.stake, vol_target=args.vol_target,
                    stop_loss=args.stop_loss, take_profit=args.take_profit, hold=hold, min_margin=args.min_margin)
    if args.fundamentals:
        settings["fundamentals"] = load_fundamentals(args.fundamentals)
    universe = load_symbols(args.data)
    if args.sweep:
        grid = sweep_grid(args.sweep)
        table = run_sweep(spec, universe if len(universe) > 1 else next(iter(universe.values())), grid,
                          workers=args.workers, source_options=security, **settings)
        print(format_sweep(table, list(grid[0])))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.out / "sweep.csv", index=False)
            print(f"wrote {args.out / 'sweep.csv'}")
        return
    source = open_source(spec, **security)
    try:
        results = {name: run_backtest(source, bars, symbol=name, **settings) for name, bars in universe.items()}
    finally:
        getattr(source, "close", lambda: None)()  # a server's channel
    print("\n\n".join(format_report(result) for result in results.values()))
    if len(results) > 1:
        print("\n" + format_portfolio(results))
    if args.out:
        written = write_portfolio(results, args.out) if len(results) > 1 else write_report(
            next(iter(results.values())), args.out)
        print(f"wrote {written[0]} and {len(written) - 1} more files in {args.out}")


def _demo(args: argparse.Namespace) -> None:
    from signalstack.plugin.demo import run_demo

    run_demo(args.out, data=args.data, epochs=args.epochs)


def _models(args: argparse.Namespace) -> None:
    from signalstack.models.zoo import get_entry, list_models

    for name in list_models():
        entry = get_entry(name)
        params = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
        print(f"{name:<16} {entry.summary}\n{'':<16} inputs: {', '.join(entry.input_names)}; params: {params}")


def _summary(args: argparse.Namespace) -> None:
    from signalstack.models.zoo import summary

    inputs = {name: tuple(int(d) for d in dims.split(","))
              for name, dims in (_key_value(text, "--input") for text in args.input)}
    print(summary(args.model, inputs or None, **_parse_params(args.param)))


def _info(args: argparse.Namespace) -> None:
    import json

    from signalstack.server.runtime import OnnxModel

    model = OnnxModel(args.model, providers=["CPUExecutionProvider"])
    print(json.dumps(json.loads(model.card.to_json()), indent=2))


if __name__ == "__main__":
    sys.exit(main())
