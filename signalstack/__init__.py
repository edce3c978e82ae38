"""signalstack: deep-learning trading signals for Backtrader.

The package is layered, and imports only point down the list:

- `signalstack.core`: the inference core (model card, bar checks, features, the day and as-of rules,
  the ONNX runtime, errors and typed settings); numpy, pandas, TA-Lib and onnxruntime only;
- `signalstack.models`: datasets, the model zoo, training and export (the only part that imports torch);
- `signalstack.transport`: what a gRPC client and the server share (a client's credentials);
- `signalstack.server`: the gRPC service over a folder of exported models;
- `signalstack.plugin`: Backtrader indicators, strategies, analyzers, backtests and reports;
- `signalstack.research`: experiment files run as walk-forward folds x seeds, baselines, tuning;
- `signalstack.paper`: paper trading on live bars, journaled so a run survives a crash;
- `signalstack.cli`: the `signalstack` command, one module per subcommand;
- `signalstack.protos`: the gRPC contracts and their generated code.

Importing this package loads nothing else.
"""

__version__ = "0.2.0"
