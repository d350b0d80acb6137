"""ember.distributed is the bottom layer: none of its modules imports the engine, data, metrics, supervised or handlers."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import ember
import ember.distributed as idist
import ember.handlers

PACKAGE = Path(ember.__file__).parent
HIGHER = ("ember.engine", "ember.data", "ember.metrics", "ember.supervised", "ember.handlers", "ember.contrib")


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.module, node.lineno)] + [
                (f"{node.module}.{alias.name}", node.lineno) for alias in node.names
            ]
    return found


def test_no_distributed_module_imports_a_higher_layer() -> None:
    """Every import statement, at module level or inside a function, is read from the source."""
    upward = [
        f"{path.name}:{line} imports {name}"
        for path in sorted((PACKAGE / "distributed").glob("*.py"))
        for name, line in _imports(path)
        if name.startswith(HIGHER)
    ]
    assert upward == []


def test_data_and_utils_import_distributed_modules_not_the_package() -> None:
    """``from ember.distributed.sampling import ...``, never ``import ember.distributed`` or its package names."""
    for module in ("data.py", "utils.py"):
        tree = ast.parse((PACKAGE / module).read_text())
        package_imports = [
            node.lineno
            for node in ast.walk(tree)
            if (
                isinstance(node, ast.ImportFrom)
                and node.module in ("ember.distributed", "ember")
                and (node.module == "ember.distributed" or any(a.name == "distributed" for a in node.names))
            )
            or (isinstance(node, ast.Import) and any(a.name == "ember.distributed" for a in node.names))
        ]
        assert package_imports == [], module


def test_importing_distributed_loads_no_higher_layer() -> None:
    """A fresh interpreter: ember.distributed with all its submodules loads nothing above the engine core."""
    code = (
        "import sys, ember.distributed, ember.distributed.sharding, ember.distributed.utils, ember.distributed.auto\n"
        "print(sorted(m for m in sys.modules if m.startswith(('ember.data', 'ember.metrics', 'ember.supervised',"
        " 'ember.handlers', 'ember.engine.deterministic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_event_sync_check_is_a_handler() -> None:
    """EventSyncCheck (added after ember 0.1.0, never released in ember.distributed) lives in ember.handlers only."""
    from ember.handlers.event_sync import EventsDivergedError, EventSyncCheck

    assert ember.handlers.EventSyncCheck is EventSyncCheck
    assert ember.handlers.EventsDivergedError is EventsDivergedError
    assert "EventSyncCheck" not in idist.__all__ and "EventSyncCheck" in ember.handlers.__all__
    assert not hasattr(idist, "EventSyncCheck")
    with pytest.raises(ImportError):
        importlib.import_module("ember.distributed.debug")
