"""Every ```python block in README.md and docs/*.md runs, each in a fresh namespace and a temporary folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_blocks() -> list[tuple[str, str]]:
    blocks = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), start=1):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{document.relative_to(ROOT)}:{line} (block {number})", match.group(1)))
    return blocks


BLOCKS = code_blocks()


def test_documents_have_examples() -> None:
    assert any(name.startswith("README.md") for name, _ in BLOCKS), "the README must show a runnable example"


@pytest.mark.parametrize("source", [source for _, source in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_code_block_runs(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = compile(source, "<doc block>", "exec")
    namespace: dict[str, object] = {"__name__": "__doc_block__"}
    exec(code, namespace)
    assert os.getcwd() == str(tmp_path)
