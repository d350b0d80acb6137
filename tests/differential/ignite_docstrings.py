"""Reading the examples out of ignite's docstrings (its Sphinx directives), for the tests that run them."""

from __future__ import annotations

import re
import textwrap

DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<kind>testcode|code-block|code)::\s*(?P<argument>\S*)\s*$")


def blocks_of(docstring: str) -> list[tuple[str, str, str]]:
    """``(kind, group, code)`` of each ``testcode`` or ``code-block``/``code`` directive (options skipped)."""
    lines = docstring.splitlines()
    found: list[tuple[str, str, str]] = []
    index = 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        index += 1
        if not match:
            continue
        indent = len(match.group("indent"))
        while index < len(lines) and (not lines[index].strip() or lines[index].strip().startswith(":")):
            index += 1
        body: list[str] = []
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent
        ):
            body.append(lines[index])
            index += 1
        kind = "testcode" if match.group("kind") == "testcode" else "code-block"
        found.append((kind, match.group("argument") or "default", textwrap.dedent("\n".join(body)).strip()))
    return found


def blocks_of_testcode(docstring: str) -> list[str]:
    """The bodies of the docstring's ``.. testcode::`` blocks, in order."""
    return [code for kind, _, code in blocks_of(docstring) if kind == "testcode"]
