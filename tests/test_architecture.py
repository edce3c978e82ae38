"""The package's layers: which imports what, checked in fresh interpreters and on the import graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import signalstack

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "signalstack": "signalstack",
    "signalstack.core": "core",
    "signalstack.models": "models",
    "signalstack.research": "research",
    "signalstack.paper": "paper",
    "signalstack.server": "server",
    "signalstack.plugin": "plugin",
    "signalstack.cli": "cli",
    "signalstack.protos": "protos",
    "signalstack.transport": "transport",
}
"""Each subpackage and its folder in the source tree (pyproject's package-dir)."""


def _loaded(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_the_core_the_server_trading_and_the_cli_never_load_torch() -> None:
    loaded = _loaded(
        "import signalstack.core.model, signalstack.core.card, signalstack.core.fundamentals\n"
        "import signalstack.server.app, signalstack.server.main, signalstack.server.triton\n"
        "import signalstack.plugin.backtest, signalstack.plugin.report, signalstack.plugin.sweep\n"
        "import signalstack.paper.runner, signalstack.paper.status\n"
        "import signalstack.cli; signalstack.cli._parser()\n"
    )
    assert "signalstack.server.app" in loaded and "signalstack.plugin.backtest" in loaded  # the probe ran
    assert "torch" not in loaded


def test_a_strategy_process_client_loads_neither_onnxruntime_nor_the_server() -> None:
    # What GrpcSource loads: the client and what both ends of the wire share, nothing that serves.
    loaded = _loaded("import signalstack.transport.client")
    assert {"signalstack.transport.wire", "signalstack.transport.channel"} <= set(loaded)
    assert not [m for m in loaded if m.startswith("signalstack.server")]
    assert "onnxruntime" not in loaded and "torch" not in loaded


def test_the_cli_help_loads_no_heavy_library() -> None:
    loaded = _loaded("import signalstack.cli; signalstack.cli._parser()")
    assert not {"torch", "onnxruntime", "backtrader", "grpc", "matplotlib"} & set(loaded)


def _imports(path: Path, module: str) -> set[str]:
    """The signalstack modules `module` (at `path`) imports anywhere in its body, functions included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if node.module:
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from . import x` names a module
    return {m for m in found if m.startswith("signalstack")}


def _graph() -> dict[str, set[str]]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == "signalstack" and parts:
                continue  # the top-level folder holds only signalstack/__init__.py
            modules[".".join((package, *parts))] = path
    # A module's own packages are imported before it, always: an edge to one of them is no cycle.
    return {
        name: {m for m in _imports(path, name) if m in modules and not name.startswith(m + ".") and m != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph`, as the modules along it, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycles_anywhere_in_the_package() -> None:
    graph = _graph()
    assert "signalstack.server.dataplane" in graph["signalstack.server.app"]  # the graph was read
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_layers_point_down_only() -> None:
    graph = _graph()
    # transport is what client and server share: below server, plugin and paper, which import nothing of server
    transport = {"signalstack.core", "signalstack.protos", "signalstack.transport", "signalstack"}
    below = {
        "signalstack.core": {"signalstack.core"},
        "signalstack.transport": transport,
        "signalstack.server": transport | {"signalstack.server"},
        "signalstack.plugin": {"signalstack.core", "signalstack.transport", "signalstack.plugin", "signalstack"},
        "signalstack.paper": transport | {"signalstack.plugin", "signalstack.paper"},
    }
    for layer, allowed in below.items():
        for module, imported in graph.items():
            if module == layer or module.startswith(layer + "."):
                outside = {
                    m
                    for m in imported
                    if not any(m == a or m.startswith(a + ".") for a in allowed if a != "signalstack")
                    and m != "signalstack"
                }
                assert not outside, f"{module} imports {sorted(outside)}: {layer} may import only {sorted(allowed)}"


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_the_package_says_its_version() -> None:
    assert signalstack.__version__.count(".") == 2
    result = subprocess.run(
        [sys.executable, "-m", "signalstack.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == f"signalstack {signalstack.__version__}"
