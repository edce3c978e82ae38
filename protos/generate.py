"""Regenerate the committed Python code for every ``.proto`` under this folder.

Run ``python -m signalstack.protos.generate`` after editing a ``.proto``. protoc writes absolute
imports such as ``from signalstack.v1 import signals_pb2``, which would only resolve if the protos
folder were on ``sys.path``; the package installs as ``signalstack.protos.signalstack.v1``, so those
imports are rewritten to relative ones.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import os
import re
from pathlib import Path

from grpc_tools import protoc

log = logging.getLogger(__name__)

PROTO_ROOT = Path(__file__).resolve().parent
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

# protoc's form for importing another generated module: `from a.b import c_pb2 as a_dot_b_dot_c__pb2`.
_IMPORT = re.compile(r"^from ((?:\w+\.)*\w+) import (\w+_pb2)\b", re.MULTILINE)


def generate(out_dir: Path) -> list[Path]:
    """Generate code for every proto of this folder into `out_dir`, same layout; return the files written."""
    protos = sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise FileNotFoundError(f"{PROTO_ROOT}: no .proto files (expected e.g. signalstack/v1/signals.proto)")
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *(str(p) for p in protos)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(map(str, protos))} (its errors are above)")
    local = {_package(p) for p in protos}
    written = []
    for proto in protos:
        for suffix in SUFFIXES:
            path = out_dir / proto.parent / (proto.stem + suffix)
            _make_imports_relative(path, _package(proto), local)
            written.append(path)
    return written


def _package(proto: Path) -> str:
    """The dotted module package protoc puts a proto's code in: its folder, e.g. ``signalstack.v1``."""
    return proto.parent.as_posix().replace("/", ".")


def _make_imports_relative(path: Path, package: str, local: set[str]) -> None:
    """Rewrite imports of modules generated from our own protos as imports relative to `package`."""
    here = package.split(".")

    def relative(match: re.Match[str]) -> str:
        target, module = match.groups()
        if target not in local:
            return match.group(0)  # e.g. google.protobuf: installed, imported as is
        there = target.split(".")
        common = len(os.path.commonprefix([here, there]))
        return f"from {'.' * (len(here) - common + 1)}{'.'.join(there[common:])} import {module}"

    path.write_text(_IMPORT.sub(relative, path.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signalstack.protos.generate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT,
                        help="folder to write into (default: next to the protos)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
