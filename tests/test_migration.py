"""The migration guide's promises about names hold: what it says exists does, what it says is missing is.

tests/ignite_names.txt lists the public names of pytorch-ignite 0.5.5 that ember has at the same import
path (written by ``scripts/ignite_names.py --write``); docs/migration.md says every other name is in its
table of missing names. If a name disappears from ember, or a name the table calls missing is added,
one of these tests fails and the guide (or the list) must be updated.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES_FILE = Path(__file__).with_name("ignite_names.txt")
GUIDE = ROOT / "docs" / "migration.md"
MISSING_SECTION = "## ignite names that ember does not have"


def present_names() -> dict[str, list[str]]:
    """``{module path below ignite/ember: [names ember has]}`` from tests/ignite_names.txt."""
    names: dict[str, list[str]] = {}
    for line in NAMES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            path, name = line.split()
            names.setdefault(path, []).append(name)
    return names


def missing_names() -> list[str]:
    """The dotted ignite paths (``ignite.x.Name`` or ``ignite.x.module``) in the guide's table of missing names."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index(MISSING_SECTION) :].split("\n## ", 2)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `ignite.")]
    return [path for row in rows for path in re.findall(r"`(ignite(?:\.\w+)+)`", row)]


def ember_object(ignite_path: str) -> object | None:
    """What ``ember.<path>`` is, as a module or an attribute of its module, or None if it does not exist."""
    parts = ["ember", *ignite_path.split(".")[1:]]
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for part in parts[end:]:
            if not hasattr(found, part):
                return None
            found = getattr(found, part)
        return found
    return None


PRESENT = present_names()


def test_the_lists_are_not_empty() -> None:
    assert sum(map(len, PRESENT.values())) > 100, "tests/ignite_names.txt lost its names"
    assert len(missing_names()) > 5, f"the table under '{MISSING_SECTION}' in docs/migration.md was not found"


@pytest.mark.parametrize("path", sorted(PRESENT))
def test_ignite_names_exist_at_the_same_path(path: str) -> None:
    module: ModuleType = importlib.import_module(f"ember.{path}")
    lacking = [name for name in PRESENT[path] if not hasattr(module, name)]
    assert not lacking, (
        f"ember.{path} lacks {lacking}, which pytorch-ignite code imports from ignite.{path}; restore them, "
        "or list them in docs/migration.md's table of missing names and rerun scripts/ignite_names.py --write."
    )


def test_names_the_guide_calls_missing_are_missing() -> None:
    existing = [path for path in missing_names() if ember_object(path) is not None]
    assert not existing, (
        f"docs/migration.md says ember has no {existing}, but it has: remove them from the guide's table "
        "and rerun scripts/ignite_names.py --write."
    )


def test_no_name_is_both_present_and_missing() -> None:
    present = {f"ignite.{path}.{name}" for path, names in PRESENT.items() for name in names}
    assert not present & set(missing_names())


def test_ember_object_finds_modules_and_attributes() -> None:
    """The lookup behind these tests tells an existing module, attribute and a missing name apart."""
    import ember.engine

    assert ember_object("ignite.engine") is ember.engine
    assert ember_object("ignite.engine.Engine") is ember.engine.Engine
    assert ember_object("ignite.engine.Engine.run") is ember.engine.Engine.run
    assert ember_object("ignite.engine.NoSuchName") is None
    assert ember_object("ignite.no_such_module.Name") is None
