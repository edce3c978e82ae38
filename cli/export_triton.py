"""`signalstack export-triton`: the same models as a Triton model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from signalstack.server.options import TRITON_BATCHING, BatchPolicy

from .flags import settings_from


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-triton",
        help="write a Triton model repository for a folder of models",
        description="config.pbtxt (inputs, outputs, dynamic batching) and version folders for "
        "every loadable model, for Triton Inference Server or KServe.",
    )
    p.add_argument("--models", required=True, type=Path, help="signalstack model repository folder")
    p.add_argument("--out", required=True, type=Path, help="Triton repository folder to write")
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=TRITON_BATCHING.max_batch_size,
        help=f"default {TRITON_BATCHING.max_batch_size} (1: no batching)",
    )
    p.add_argument(
        "--max-delay-us", type=int, default=TRITON_BATCHING.max_delay_us, help=f"default {TRITON_BATCHING.max_delay_us}"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.server.triton import export_triton

    for path in export_triton(args.models, args.out, batching=settings_from(BatchPolicy, args)):
        print(f"wrote {path}")
