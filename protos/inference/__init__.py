"""``inference``: the Open Inference Protocol v2 (KServe / Triton) gRPC contract and its generated code."""
