"""The inference core: everything needed to use an exported model, without torch.

- `card`: the model card stored in the ONNX file (features, label, scalers, inputs, outputs, ranges);
- `bars`: loading and checking OHLCV bars; `features`: the registry of feature kinds, each with its
  TA-Lib batch form and its plain-Python live form; `labels`: the label rules a card names;
  `scaler`: per-feature standardisation; `days` and `fundamentals`: the day rule of intraday models
  and the as-of rule of dated fundamentals;
- `session` (an ONNX graph in onnxruntime), `featurizer` (bars -> the tensors a model reads),
  `inputs` (checks of named tensors), `outputs` (outputs side by side) and `model` (`OnnxModel`,
  all of them together): the one implementation of "bars -> features -> model", used by the
  server and in process by the Backtrader plugin alike; `live`: a live feed's model input kept up
  to date bar by bar (one `features.LiveFeatures` row a bar), and scored;
- `errors` (`SignalstackError`, the root of the errors a user can fix) and `settings` (frozen typed
  settings, parsed once, with errors named by path).

Depends on numpy, pandas, TA-Lib and onnxruntime only; the server and the plugin import it, never
the other way round. Importing this package loads nothing; import the module you need.
"""
