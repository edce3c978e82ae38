"""`signalstack info`: a model file's card as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print an ONNX model's card (features, scaler, metrics)")
    p.add_argument("model", type=Path, help="FILE.onnx")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import json
    import logging

    from signalstack.core.model import OnnxModel

    if not args.verbose:  # the card is all `info` prints: where onnxruntime would run the model is noise here
        logging.getLogger("signalstack.core.model").setLevel(logging.WARNING)
    model = OnnxModel(args.model, device="cpu")
    print(json.dumps(json.loads(model.card.to_json()), indent=2))
