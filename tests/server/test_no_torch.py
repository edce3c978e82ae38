"""The server side runs from the ONNX file alone: importing it must not load torch."""

from __future__ import annotations

import subprocess
import sys


def test_server_modules_do_not_import_torch() -> None:
    code = ("import sys\n"
            "import signalstack.server.app, signalstack.server.client, signalstack.server.repository\n"
            "import signalstack.server.oip, signalstack.server.triton, signalstack.server.workers\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"torch was imported (rc {result.returncode}): {result.stderr[-2000:]}"
