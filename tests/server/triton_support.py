"""Triton's own client package in the tests: its gRPC client and its ``ModelConfig`` schema.

The test extra installs ``tritonclient[grpc]``, so its absence is a broken test environment and
fails loudly, except in the runs of tests/server/test_grpc_versions.py, which have no Triton's client:
the current tritonclient needs grpcio >= 1.81.1 and protobuf < 7, so it fits neither the oldest
versions signalstack supports nor the newest.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

VERSIONS_RUN = "SIGNALSTACK_VERSIONS_RUN"
"""Set, to the grpcio and protobuf versions there, in the environment of test_grpc_versions.py's runs."""


def tritonclient(module: str = "tritonclient.grpc") -> ModuleType | None:
    """Triton's `module`, or None in test_grpc_versions.py's runs; a missing package fails the test anywhere else."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if os.environ.get(VERSIONS_RUN):
            return None
        pytest.fail(
            f"{module} is not importable ({error}): the test extra installs tritonclient[grpc]; "
            "reinstall it with pip install -e '.[test]'"
        )


def require_tritonclient(module: str = "tritonclient.grpc") -> ModuleType:
    """Triton's `module`; in test_grpc_versions.py's runs, where it cannot be installed, skip the test saying so."""
    found = tritonclient(module)
    if found is None:
        pytest.skip(
            f"{module} not installed: the current tritonclient needs grpcio >= 1.81.1 and protobuf < 7, "
            f"and this run tests {os.environ.get(VERSIONS_RUN)}"
        )
    return found


def triton_model_config(text: str) -> object | None:
    """`text` (a config.pbtxt) parsed with Triton's own ``ModelConfig`` message, which fails on anything that
    is not in Triton's schema; None in test_grpc_versions.py's runs, where Triton's package is absent."""
    from google.protobuf import text_format

    schema = tritonclient("tritonclient.grpc.model_config_pb2")
    if schema is None:
        return None
    return text_format.Parse(text, schema.ModelConfig())
