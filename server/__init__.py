"""Serving exported models over gRPC, without torch.

Data flows one way through these layers, as in KServe's server:

- `options` holds every serving option (`ServeOptions`, `BatchPolicy`, `TlsFiles`, typed settings) with its
  default, and decides what is left to the machine (worker processes, batching instances);
- `repository` finds the ONNX files of a model folder (NAME.onnx, or NAME/VERSION/model.onnx),
  looks models up by name and version, and swaps them in and out as the folder changes; each is a
  `signalstack.core.model.OnnxModel`, the same runtime the Backtrader plugin uses in process;
- `dataplane` is the one protocol-neutral path of a call: find the model and version, check the
  inputs, batch (`batching`), run, name the outputs; `streaming` keeps the rolling windows of a stream;
- `servicer` (signalstack.v1.SignalService) and `oip` (the Open Inference Protocol v2) only translate
  wire messages (`wire`) to data-plane calls and back; `rpc` turns errors into gRPC status codes and
  counts calls in `metrics`; `security` checks bearer tokens and reads TLS files;
- `app` builds the server (`SignalServer`, a context manager); `process` runs one until a signal,
  `workers` several on one port, `main.serve` picks between them; `triton` writes a Triton model
  repository for the same files; `logs` formats JSON log lines.

`client.SignalClient` is the Python side of the wire; it loads only `wire` and `channel` of this
package. Importing this package loads nothing; import the module you need.
"""
