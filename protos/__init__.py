"""Protocol buffers for signalstack's gRPC API, and the Python code generated from them.

The generated ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` files are committed next to their
``.proto`` so installing the package needs no protoc. After editing a ``.proto``, regenerate them with
``python -m signalstack.protos.generate``; ``tests/server/test_protos.py`` fails when the committed
code drifts from the ``.proto`` files.
"""
