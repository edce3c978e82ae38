"""Serving exported models over gRPC, without torch.

Data flows one way through these layers, as in KServe's server:

- `options` holds every serving option (`ServeOptions`, `BatchPolicy`) with its default;
- `repository` finds the ONNX files of a model folder (NAME.onnx, or NAME/VERSION/model.onnx),
  looks models up by name and version, and swaps them in and out as the folder changes; each is a
  `signalstack.core.model.OnnxModel`, the same runtime the Backtrader plugin uses in process;
- `dataplane` is the one protocol-neutral path of a call: find the model and version, check the
  inputs, batch (`batching`), run, name the outputs; its `open_stream` gives a stream of bars its own
  state (`streaming.SignalStream`: a rolling window per model and symbol);
- `servicer` (signalstack.v1.SignalService) and `oip` (the Open Inference Protocol v2) only translate
  wire messages (`signalstack.transport.wire`) to data-plane calls and back; `rpc` turns errors into
  gRPC status codes and counts calls in `metrics`; `signalstack.transport.guard` checks bearer tokens
  and reads TLS files;
- `app` builds the server (`SignalServer`, a context manager); `process` runs one until a signal,
  `workers` several on one port, `main.serve` picks between them; `triton` writes a Triton model
  repository for the same files; `logs` formats JSON log lines.

Clients (`signalstack.transport`) load nothing of this package. Importing this package loads nothing;
import the module you need.
"""
