"""The research runner's defaults, written once: the library and `signalstack run --help` read them here.

Importing this module loads nothing else, so the command line can show them without loading torch.
"""

from __future__ import annotations

OUT = "runs"
"""The folder each run's folder `<run id>/` is made in."""

WORKERS = 1
"""Processes that run a run's tasks; 1 runs them in this process, one after another."""
