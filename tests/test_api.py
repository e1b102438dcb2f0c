"""The library API's examples (docs/api.md, linked from the README) run as they are written."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from apeltools import api

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_page_has_examples_of_every_function():
    code = "\n".join(BLOCK.findall(DOC.read_text(encoding="utf-8")))
    for name in api.__all__:
        if name != "Config":
            assert f"api.{name}(" in code, f"docs/api.md shows no call of api.{name}"


def test_the_examples_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp
    monkeypatch.delenv("APELTOOLS_CONFIG", raising=False)
    namespace: dict = {}
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/api.md, example {number}", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "APEL-summary-job-message: v0.2" in out
    assert "super-summary rows" in out
    assert namespace["loaded"].messages > 0 and namespace["answer"].rows
