"""The committed generated code is what the .proto files generate today."""

from __future__ import annotations

from pathlib import Path

from signalstack.protos.generate import PROTO_ROOT, SUFFIXES, generate


def test_committed_code_matches_protos(tmp_path: Path) -> None:
    written = {p.relative_to(tmp_path): p.read_bytes() for p in generate(tmp_path)}
    committed = {p.relative_to(PROTO_ROOT): p.read_bytes() for p in PROTO_ROOT.rglob("*")
                 if p.name.endswith(SUFFIXES)}
    assert set(committed) == set(written), "run: python -m signalstack.protos.generate"
    stale = [str(path) for path in written if written[path] != committed[path]]
    assert not stale, f"stale generated code {stale}: run python -m signalstack.protos.generate"

