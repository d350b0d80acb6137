"""MkDocs hook that builds the API reference from the packages' ``__all__`` lists.

One page per public module of ``src/ember`` (``reference/<module>.md``, rendered by mkdocstrings), added to
the "API reference" section of the nav, so a new package or a new name needs no edit here. After the build,
every name of every documented ``__all__`` must have its anchor in the site: a public name that the reference
does not show fails ``mkdocs build --strict``.

A module is documented when it declares a non-empty ``__all__``; a package without one (a folder of import
paths, e.g. ``ember.contrib``) is looked into, and so is a package with one, for the names of its submodules that
it does not re-export itself. Private modules (``_name``) and ``ember.examples`` are skipped.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "ember"
SECTION = "API reference"
SKIPPED = {"ember.examples"}

PAGE = """::: {module}
    options:
      show_root_heading: true
      show_root_full_path: true
      heading_level: 1
      members: {members}
"""


def exported_names(path: Path) -> list[str]:
    """The names that the module at ``path`` lists in ``__all__`` (assignments and ``+=`` of literal lists)."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == "__all__" and value is not None:
            listed = ast.literal_eval(value)
            names = names + list(listed) if isinstance(node, ast.AugAssign) else list(listed)
    return names


def public_modules(folder: Path = PACKAGE, name: str = "ember") -> dict[str, list[str]]:
    """Map each documented module's dotted name to its ``__all__``, ``ember`` first, then by name."""
    init = folder / "__init__.py"
    modules: dict[str, list[str]] = {}
    # a submodule named in __all__ (ignite's contrib.metrics.regression lists its modules) is a module, not a name
    submodules = {child.stem for child in folder.iterdir() if child.suffix == ".py" or (child / "__init__.py").exists()}
    names = [exported for exported in exported_names(init) if exported not in submodules] if init.exists() else []
    if names:
        modules[name] = names
    # A package with its own __all__ re-exports what its submodules define: a submodule gets a page of its own
    # only for the names the package does not re-export (ignite's e.g. ember.handlers.logger_utils).
    shown_above = set(names) if name != "ember" else set()
    for child in sorted(folder.iterdir()):
        child_name = f"{name}.{child.stem}"
        if child.name.startswith("_") or child_name in SKIPPED:
            continue
        if child.is_dir() and (child / "__init__.py").exists():
            found = public_modules(child, child_name)
        elif child.suffix == ".py":
            found = {child_name: exported_names(child)}
        else:
            continue
        for module, module_names in found.items():
            own = [exported for exported in module_names if exported not in shown_above]
            if own:
                modules[module] = own
    return modules


ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|exc|mod|data|obj|const):`(~?)([^`]+)`")
FENCE = re.compile(r"^\s*(```|~~~)")


def reference_target(target: str, documented: dict[str, list[str]]) -> bool:
    """Whether ``target`` (a dotted path) names a documented module or a name of a documented ``__all__``."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        if module in documented:
            return end == len(parts) or parts[end] in documented[module]
    return False


class DocstringMarkup(Preprocessor):
    """Reads the reStructuredText habits of ember's docstrings as Markdown.

    - A paragraph of ``>>>`` lines (a doctest) becomes a ``pycon`` code block; as Markdown, ``x['a'][1]``
      in it would be read as a link.
    - A Sphinx role (``:class:`~ember.engine.Engine```) becomes a link to the reference when it names a
      documented public name (mkdocs then checks that the target exists), and inline code otherwise
      (a private helper, or a name relative to the current class).
    """

    def __init__(self, md: Markdown, documented: dict[str, list[str]]) -> None:
        super().__init__(md)
        self.documented = documented

    def role(self, match: re.Match[str]) -> str:
        short, target = match.group(1) == "~", match.group(2).strip()
        path = target.removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if short else target
        if path.startswith("ember") and reference_target(path, self.documented):
            return f"[`{shown}`][{path}]"
        return f"`{shown}`"

    def run(self, lines: list[str]) -> list[str]:
        result: list[str] = []
        in_fence = in_doctest = False
        indent = ""  # the doctest's indentation
        for line in lines:
            stripped = line.lstrip()
            if in_doctest and not stripped:
                result += [f"{indent}```", line]
                in_doctest = False
                continue
            if not in_doctest and FENCE.match(line):
                in_fence = not in_fence
            if not in_fence and not in_doctest and stripped.startswith(">>>"):
                in_doctest, indent = True, line[: len(line) - len(stripped)]
                result += ["", f"{indent}```pycon"]
            result.append(line if in_fence or in_doctest else ROLE.sub(self.role, line))
        if in_doctest:
            result.append(f"{indent}```")
        return result


class DocstringMarkupExtension(Extension):
    def __init__(self, documented: dict[str, list[str]]) -> None:
        super().__init__()
        self.documented = documented

    def extendMarkdown(self, md: Markdown) -> None:
        # after whitespace normalisation (30), before fenced code blocks are taken out (25)
        md.preprocessors.register(DocstringMarkup(md, self.documented), "ember_docstring_markup", 29)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the "API reference" section of the nav with one page per public module."""
    config.markdown_extensions.append(DocstringMarkupExtension(public_modules()))
    pages = [{module: f"reference/{module}.md"} for module in public_modules()]
    for entry in config.nav or []:
        if isinstance(entry, dict) and SECTION in entry:
            entry[SECTION] = pages
            return config
    raise PluginError(f"mkdocs.yml's nav has no '{SECTION}' section; add '- {SECTION}: []' where it belongs.")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated reference pages to the site."""
    for module, names in public_modules().items():
        page = PAGE.format(module=module, members=json.dumps(names))
        files.append(File.generated(config, f"reference/{module}.md", content=page))
    return files


def on_post_build(config: MkDocsConfig, **kwargs: Any) -> None:
    """Fail the build if a name of a documented ``__all__`` has no entry in the reference."""
    site = Path(config.site_dir)
    missing = []
    for module, names in public_modules().items():
        html = (site / "reference" / module / "index.html").read_text(encoding="utf-8")
        anchors = set(re.findall(r'id="([^"]+)"', html))
        missing += [f"{module}.{name}" for name in names if f"{module}.{name}" not in anchors]
    if missing:
        raise PluginError(
            "The API reference does not show these public names: "
            + ", ".join(missing)
            + ". Each name in an __all__ must be importable from that module and visible to mkdocstrings "
            "(defined or imported there, not only created by a module __getattr__)."
        )
