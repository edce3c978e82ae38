"""Serving exported models over gRPC, without torch.

Data flows one way through four layers:

- `repository` finds the ONNX files of a model folder and looks models up by name and version;
- `runtime` runs one model in onnxruntime: raw bars -> features -> probabilities (also used in
  process by the Backtrader plugin, so both paths give the same numbers);
- `servicer` translates SignalService messages to runtime calls and errors to gRPC status codes;
- `app` builds the gRPC server (with health checking and reflection) and runs it until a signal.

`client.SignalClient` is the Python side of the wire. Importing this package loads nothing; import
the module you need.
"""
