"""The layer contract of ``.importlinter`` holds, and it would catch an upward import.

ember's layers (ARCHITECTURE.md), lowest first: exceptions/utils/random → distributed → data → engine →
metrics → supervised → handlers → contrib/examples. ``lint-imports`` (import-linter) checks the real import
graph of ``src/ember``; these tests run it on the tree, and on a copy with one planted violation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=config_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def planted_tree(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of ``src/ember`` and ``.importlinter`` in which ``module`` (a dotted path) gains ``line``."""
    shutil.copytree(ROOT / "src" / "ember", tmp_path / "src" / "ember", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    path = tmp_path / "src" / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return tmp_path


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")
def test_the_source_keeps_its_layers() -> None:
    result = lint_imports(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")
@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        ("ember.distributed.process", "import ember.engine.engine", "ember.distributed.process -> ember.engine"),
        ("ember.engine.state", "from ember.metrics import Metric", "ember.engine.state -> ember.metrics"),
        ("ember.utils", "from ember.handlers import Checkpoint", "ember.utils -> ember.handlers"),
    ],
)
def test_a_planted_upward_import_breaks_the_contract(tmp_path: Path, module: str, line: str, named: str) -> None:
    tree = planted_tree(tmp_path, module, line)
    result = lint_imports(tree / "src", tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and named in result.stdout, result.stdout
