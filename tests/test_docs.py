"""Every Python code block in README.md and docs/*.md runs, each in a fresh namespace and a temporary folder.

A block is fenced with ```python (or ```py); attributes after the language, as in ```python title="x.py",
do not hide it. A block that must not run (a command-line program, a snippet that needs a GPU or a
cluster) is preceded by the line ``<!-- docs-test: skip, REASON -->``; the reason is required, and the
marker is invisible on the rendered site. Everything else runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?:python|py)\b[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SKIP = re.compile(r"<!-- docs-test: skip, (?P<reason>\S[^\n]*?) -->\n$")
SKIP_WITHOUT_REASON = re.compile(r"<!-- docs-test: skip\s*-->\n$")


def code_blocks(documents: list[Path] = DOCUMENTS, root: Path = ROOT) -> list[tuple[str, str, str | None]]:
    """``(where, source, reason to skip or None)`` for each Python block of ``documents``."""
    blocks = []
    for document in documents:
        text = document.read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), start=1):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rsplit("\n", 2)
            previous_line = before[-2] + "\n" if len(before) >= 2 else ""
            where = f"{document.relative_to(root)}:{line} (block {number})"
            if SKIP_WITHOUT_REASON.search(previous_line):
                raise AssertionError(f"{where}: a skipped block must say why: <!-- docs-test: skip, REASON -->")
            skip = SKIP.search(previous_line)
            blocks.append((where, match.group(1), skip.group("reason") if skip else None))
    return blocks


BLOCKS = code_blocks()


def test_documents_have_examples() -> None:
    assert any(name.startswith("README.md") for name, _, _ in BLOCKS), "the README must show a runnable example"
    documented = {name.split(":")[0] for name, _, skip in BLOCKS if skip is None}
    for page in ("docs/getting-started.md", "docs/concepts.md", "docs/migration.md"):
        assert page in documented, f"{page} must show a runnable example"


def test_readme_install_section_names_every_extra() -> None:
    """Each extra of pyproject.toml has a row in the README's table of extras, and the table no other."""
    tomllib = pytest.importorskip("tomllib")
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install") :].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", install, re.MULTILINE))
    assert rows == extras, f"README's extras table lists {sorted(rows)}, pyproject.toml has {sorted(extras)}"


def test_fences_other_than_python_are_found(tmp_path: Path) -> None:
    """The block finder sees ```py and ```python with attributes, and honours only a marker with a reason."""
    page = tmp_path / "page.md"
    page.write_text(
        '```py\na = 1\n```\n\n```python title="x.py"\nb = 2\n```\n\n'
        "<!-- docs-test: skip, needs a GPU -->\n```python\nc = 3\n```\n\n```text\nnot code\n```\n",
        encoding="utf-8",
    )
    blocks = [(source, skip) for _, source, skip in code_blocks([page], tmp_path)]
    assert blocks == [("a = 1\n", None), ("b = 2\n", None), ("c = 3\n", "needs a GPU")]
    page.write_text("<!-- docs-test: skip -->\n```python\nd = 4\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="must say why"):
        code_blocks([page], tmp_path)


@pytest.mark.parametrize(
    ("source", "skip"), [(source, skip) for _, source, skip in BLOCKS], ids=[name for name, _, _ in BLOCKS]
)
def test_code_block_runs(source: str, skip: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if skip is not None:
        pytest.skip(skip)
    monkeypatch.chdir(tmp_path)
    code = compile(source, "<doc block>", "exec")
    namespace: dict[str, object] = {"__name__": "__doc_block__"}
    exec(code, namespace)
    assert os.getcwd() == str(tmp_path)
