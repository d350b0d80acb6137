"""The docs site's hook (scripts/docs_hooks.py): which modules get a reference page, and how docstrings read.

The strict build itself runs in `make docs` (and `make test`); these tests pin the pieces it relies on.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mkdocs")
markdown = pytest.importorskip("markdown")

ROOT = Path(__file__).resolve().parent.parent


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()
DOCUMENTED = hooks.public_modules()


def test_every_public_package_has_a_reference_page() -> None:
    for module in ("ember", "ember.engine", "ember.metrics", "ember.handlers", "ember.distributed", "ember.data"):
        assert module in DOCUMENTED
    assert next(iter(DOCUMENTED)) == "ember"
    assert not any(name.startswith(("ember.examples", "ember._")) for name in DOCUMENTED)
    # a package with its own __all__ stands for its submodules: no page for ember.handlers.checkpoint
    assert "ember.handlers.checkpoint" not in DOCUMENTED
    # ... except for the names it does not re-export: ignite's ember.metrics.roc_auc.roc_auc_compute_fn
    assert DOCUMENTED["ember.metrics.roc_auc"] == ["roc_auc_compute_fn", "roc_auc_curve_compute_fn"]
    assert "ROC_AUC" in DOCUMENTED["ember.metrics"]


def source_of(module: str) -> Path:
    folder = ROOT / "src" / Path(*module.split("."))
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


@pytest.mark.parametrize("module", sorted(DOCUMENTED))
def test_the_static_reading_of_all_matches_the_import(module: str) -> None:
    """The hook reads __all__ without importing; it must find what Python finds, and shows a part of it."""
    imported = importlib.import_module(module)
    assert hooks.exported_names(source_of(module)) == list(imported.__all__)
    shown = DOCUMENTED[module]
    assert shown and set(shown) <= set(imported.__all__)
    assert all(not isinstance(getattr(imported, name), ModuleType) for name in shown)


def test_exported_names_reads_assignments_and_additions(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text('__all__: list[str] = ["a", "b"]\n__all__ += ["c"]\nother = ["x"]\n', encoding="utf-8")
    assert hooks.exported_names(source) == ["a", "b", "c"]
    source.write_text("x = 1\n", encoding="utf-8")
    assert hooks.exported_names(source) == []


def render(text: str) -> str:
    md = markdown.Markdown(extensions=["fenced_code", hooks.DocstringMarkupExtension(DOCUMENTED)])
    return str(md.convert(text))


def test_a_doctest_becomes_a_code_block_and_is_not_read_as_links() -> None:
    html = render("Finds paths.\n\n>>> paths(x)\n[\"['a'][1]\"]\n\nAfter.")
    assert '<code class="language-pycon">' in html
    assert "[&quot;['a'][1]&quot;]" in html  # kept as text inside the code block
    assert "<a " not in html and "<p>After.</p>" in html


def test_sphinx_roles_link_documented_names_and_show_the_rest_as_code() -> None:
    processor = hooks.DocstringMarkup(markdown.Markdown(), DOCUMENTED)
    lines = processor.run(
        [
            "See :class:`~ember.engine.Engine`, :meth:`~ember.engine.Engine.run`, :mod:`ember.metrics`,",
            ":func:`ember._atomic.write_atomic`, :meth:`step` and :class:`ember.engine.NoSuchName`.",
        ]
    )
    assert lines == [
        "See [`Engine`][ember.engine.Engine], [`run`][ember.engine.Engine.run], [`ember.metrics`][ember.metrics],",
        "`ember._atomic.write_atomic`, `step` and `ember.engine.NoSuchName`.",
    ]


def test_fenced_blocks_are_left_alone() -> None:
    processor = hooks.DocstringMarkup(markdown.Markdown(), DOCUMENTED)
    lines = ["```python", ">>> x = 1", ":class:`~ember.engine.Engine`", "```"]
    assert processor.run(lines) == lines
