"""The documentation site builds with `--strict`, its generated reference covers the code, and it works offline.

The screenshots of the home page and of a reference page are saved under tests/artifacts/docs/ (ignored by git)
for CI to keep as artefacts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..support import offline_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "docs"
SCREENSHOTS = {"home": "index.html", "cli-reference": "reference/cli.html"}
BUILD_TIMEOUT_S = 300
# Attributes that make a browser fetch something as the page loads (links a reader clicks, <a href>, are not).
_FETCHED = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href|srcset)=\"([^\"]+)\"", re.IGNORECASE
)
_CSS_URL = re.compile(r"(?:@import\s+|url\()\s*[\"']?(https?:|//)", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The site as `mkdocs build --strict` makes it, and the build's log."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return out, done.stdout + done.stderr


def test_the_site_builds_without_a_warning(site: tuple[Path, str]) -> None:
    out, log = site
    assert not [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert (out / "index.html").is_file()


def test_the_cli_reference_has_every_subcommand_and_flag(site: tuple[Path, str]) -> None:
    import argparse

    from signalstack.cli import _parser

    page = (site[0] / "reference" / "cli.html").read_text(encoding="utf-8")
    commands = next(action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        assert f'id="{name}"' in page, f"no section for signalstack {name}"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"<code>{flag}</code>" in page, f"signalstack {name} {flag} is not in the CLI reference"
    assert 'id="paper-run"' in page and "<code>--max-gross</code>" in page


def test_the_grpc_reference_has_every_service_method_and_message(site: tuple[Path, str]) -> None:
    from signalstack.protos.signalstack.v1 import feeds_pb2, signals_pb2

    page = (site[0] / "reference" / "grpc.html").read_text(encoding="utf-8")
    for module in (signals_pb2, feeds_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            assert f"<code>{service.name}</code>" in page
            for method in service.methods:
                assert f"<code>{method.name}</code>" in page
        for message in module.DESCRIPTOR.message_types_by_name.values():
            assert f'id="signalstack-v1-{message.name.lower()}"' in page
    assert "the server computes" in page.lower() or "column-wise" in page  # a .proto comment made it through


def test_the_zoo_and_yaml_references_follow_the_code(site: tuple[Path, str]) -> None:
    from signalstack.models.zoo import list_models
    from signalstack.plugin.settings import TradingSettings

    zoo = (site[0] / "reference" / "zoo.html").read_text(encoding="utf-8")
    assert all(f"<code>{name}</code>" in zoo for name in list_models())
    yaml = (site[0] / "reference" / "yaml.html").read_text(encoding="utf-8")
    assert all(f"<code>{name}</code>" in yaml for name in TradingSettings.model_fields)
    api = (site[0] / "reference" / "api" / "plugin.html").read_text(encoding="utf-8")
    assert 'id="signalstack.plugin.backtest.run_backtest"' in api


def test_no_page_loads_anything_from_outside_the_site(site: tuple[Path, str]) -> None:
    out = site[0]
    outside = []
    for path in sorted(out.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        outside += [
            f"{path.relative_to(out)}: {match[3]}"
            for match in _FETCHED.finditer(text)
            if match[3].startswith(("http:", "https:", "//"))
        ]
        outside += [f"{path.relative_to(out)}: a CSS url" for _ in _CSS_URL.finditer(text)]
    for path in sorted(out.rglob("*.css")):
        outside += [f"{path.relative_to(out)}: a url" for _ in _CSS_URL.finditer(path.read_text(encoding="utf-8"))]
    assert not outside, "fetched from outside the site:\n" + "\n".join(outside[:20])
    assert "fonts.googleapis" not in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SCREENSHOTS)
def test_pages_open_offline_in_headless_chromium(site: tuple[Path, str], name: str, tmp_path: Path) -> None:
    page = site[0] / SCREENSHOTS[name]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    browser = offline_chromium(tmp_path / "profile", "--window-size=1280,900")
    url = page.as_uri()
    dom = subprocess.run(
        [*browser, "--virtual-time-budget=5000", "--dump-dom", url],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "md-header" in dom.stdout and "md-content" in dom.stdout  # the theme's layout, rendered
    taken = subprocess.run(
        [*browser, f"--screenshot={shot}", url], check=False, capture_output=True, text=True, timeout=120
    )
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
