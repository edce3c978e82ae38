"""signalstack: deep-learning trading signals for Backtrader.

The package is layered, and imports only point down the list:

- `signalstack.core`: the inference core (model card, bar checks, features, the day and as-of rules,
  the ONNX runtime); numpy, pandas, TA-Lib and onnxruntime only;
- `signalstack.models`: datasets, the model zoo, training and export (the only part that imports torch);
- `signalstack.server`: the gRPC service over a folder of exported models;
- `signalstack.plugin`: Backtrader indicators, strategies, analyzers, backtests and reports;
- `signalstack.cli`: the `signalstack` command, one module per subcommand.

Importing this package loads nothing else.
"""

__version__ = "0.2.0"
