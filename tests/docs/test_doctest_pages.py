"""The tutorials' runner reads a page's blocks and markers as the contributors' guide says."""

from __future__ import annotations

from pathlib import Path

import pytest

from .doctest_pages import read_page, script

PAGE = """# A page
<!-- doctest: replace "--epochs 30" "--epochs 1" -->
<!-- doctest: free-port 50051 -->

```bash
signalstack train --epochs 30 --port 50051
```

<!-- doctest: skip starts a server that never ends -->
```bash
signalstack serve --port 50051
```

```yaml title="exp.yaml"
train: {epochs: 30}
```

<!-- doctest: needs grpcurl -->
```console
$ grpcurl -plaintext 127.0.0.1:50051 list
signalstack.v1.SignalService
```

<!-- doctest: wait-port 50051 -->
```python
print("hello")
```

```text
not code
```
"""


def test_a_page_gives_its_blocks_and_markers(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE, encoding="utf-8")
    page = read_page(path)
    assert [block.language for block in page.blocks] == ["bash", "bash", "yaml", "console", "python"]
    assert page.replacements == [("--epochs 30", "--epochs 1")] and page.free_ports == ["50051"]
    assert page.blocks[1].skip == "starts a server that never ends" and page.blocks[0].skip is None
    assert page.blocks[2].title == "exp.yaml" and page.blocks[3].needs == ["grpcurl"]
    assert page.blocks[4].wait_ports == ["50051"]

    text, skipped = script(page, tmp_path, "/usr/bin/python3", missing={"grpcurl"})
    assert "--epochs 1 --port " in text and "50051" not in text.split("signalstack train")[1].split("\n")[0]
    assert "signalstack serve" not in text and "grpcurl" not in text
    assert "cat > exp.yaml <<'DOCTEST_FILE_END'\ntrain: {epochs: 30}\n" in text
    assert (tmp_path / ".doctest_4.py").read_text(encoding="utf-8") == 'print("hello")\n'
    assert len(skipped) == 2 and "grpcurl not installed" in skipped[1]


def test_an_unknown_marker_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text("<!-- doctest: skpi typo -->\n```bash\necho\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown doctest marker 'skpi'"):
        read_page(path)
