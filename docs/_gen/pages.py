"""mkdocs-gen-files script: writes the generated reference pages into the build (never into the repository).

Each page comes from the code as it is when the site is built: the CLI from the argparse parsers, the YAML keys
from the settings models' JSON Schemas, the gRPC services from the .proto files, the zoo from its registry, the
Python API from the docstrings (mkdocstrings), and the benchmark notes, the recipes and the changelog from the files
beside the code they describe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))

from _gen import (  # noqa: E402 - importable once DOCS is on the path
    api_reference,
    cli_reference,
    grpc_reference,
    included,
    yaml_reference,
    zoo_reference,
)


def _write(path: str, text: str, edit: str | None = None) -> None:
    with mkdocs_gen_files.open(path, "w") as page:
        page.write(text)
    if edit is not None:
        mkdocs_gen_files.set_edit_path(path, edit)


_write("reference/cli.md", cli_reference.page())
_write("reference/yaml.md", yaml_reference.page())
_write("reference/grpc.md", grpc_reference.page())
_write("reference/zoo.md", zoo_reference.page())
for name, text in api_reference.pages().items():
    _write(f"reference/api/{name}", text)
_write("benchmarks/notes.md", included.page(ROOT / "bench" / "README.md", "Benchmarks: reading the figures"))
_write("examples.md", included.page(ROOT / "examples" / "README.md", None))
_write("changelog.md", included.page(ROOT / "CHANGELOG.md", None))
