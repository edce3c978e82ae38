"""Serving exported models over gRPC, without torch.

Data flows one way through these layers:

- `repository` finds the ONNX files of a model folder (NAME.onnx, or NAME/VERSION/model.onnx),
  looks models up by name and version, and swaps them in and out as the folder changes;
- `runtime` runs one model in onnxruntime: raw bars -> features -> probabilities (also used in
  process by the Backtrader plugin, so both paths give the same numbers); `batching` groups
  concurrent calls on a model into one run; `streaming` keeps the rolling windows of a stream;
- `servicer` (signalstack.v1.SignalService) and `oip` (the Open Inference Protocol v2) translate
  wire messages to runtime calls; `rpc` turns errors into gRPC status codes and counts calls in
  `metrics`; `security` checks TLS settings and bearer tokens;
- `app` builds the gRPC server and runs it until a signal; `workers` runs several on one port;
  `triton` writes a Triton model repository for the same files; `logs` formats JSON log lines.

`client.SignalClient` is the Python side of the wire. Importing this package loads nothing; import
the module you need.
"""
