"""Compare pytorch-ignite's public names with ember's, module by module.

    python scripts/ignite_names.py --ignite-python /tmp/ignite-venv/bin/python [--write tests/ignite_names.txt]

For every public module of ignite (``ignite.engine``, ``ignite.handlers``, ``ignite.metrics``,
``ignite.distributed``, ``ignite.utils``, ``ignite.exceptions``, ``ignite.contrib.*`` and their public
submodules), lists the public names (``__all__``; without one, the public names a package re-exports
from ignite, or those a plain module defines itself), and checks whether ``ember.<same path>`` has each.
Prints the missing modules and names; ``--write`` stores the ``module name`` pairs that ember has, the
list that tests/test_migration.py checks (so a name the migration guide says exists cannot disappear
unnoticed). Needs an interpreter with pytorch-ignite installed; ember is imported from this one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

ROOTS = ["engine", "handlers", "metrics", "distributed", "utils", "exceptions", "contrib"]

LIST_IGNITE_NAMES = """
import importlib, inspect, json, pkgutil, warnings
warnings.simplefilter("ignore")
import ignite

roots = %r
found = {}

def public_names(module):
    if hasattr(module, "__all__"):
        return sorted(name for name in set(module.__all__) if not name.startswith("_"))
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        home = getattr(value, "__module__", None) or ""
        # a package re-exports on purpose; a plain module's imports are not part of its API
        if home == module.__name__ or (hasattr(module, "__path__") and home.startswith("ignite")):
            names.append(name)
    return sorted(names)

for root in roots:
    package = importlib.import_module("ignite." + root)
    modules = [package]
    if hasattr(package, "__path__"):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            try:
                modules.append(importlib.import_module(info.name))
            except ImportError:  # an optional dependency of ignite that is not installed
                continue
    for module in modules:
        found[module.__name__.removeprefix("ignite.")] = public_names(module)
print(json.dumps(found))
"""


def ignite_names(python: str) -> dict[str, list[str]]:
    """``{module path without 'ignite.': [public names]}`` read by running ``python``."""
    output = subprocess.run(
        [python, "-c", LIST_IGNITE_NAMES % (ROOTS,)], check=True, capture_output=True, text=True
    ).stdout
    names: dict[str, list[str]] = json.loads(output)
    return names


def compare(names: dict[str, list[str]]) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(modules ember lacks, (module, name) pairs ember lacks, (module, name) pairs ember has)."""
    missing_modules, missing, present = [], [], []
    for path, public in sorted(names.items()):
        try:
            module = importlib.import_module(f"ember.{path}")
        except ImportError:
            missing_modules.append(path)
            continue
        for name in public:
            (present if hasattr(module, name) else missing).append((path, name))
    return missing_modules, missing, present


def uncovered(names: dict[str, list[str]], missing_modules: list[str], missing: list[tuple[str, str]]) -> list[str]:
    """The missing modules and names that docs/migration.md's table of missing names does not mention.

    A name counts as mentioned when the table names it under any path (its own module and its
    ``contrib`` alias are covered by the package-level entry); a module, when the table names it or a
    package above it, or when every public name it has is mentioned.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_migration import missing_names

    listed = {path.removeprefix("ignite.") for path in missing_names()}
    listed_names = {path.rsplit(".", 1)[-1] for path in listed}
    result = []
    for path in missing_modules:
        parents = {".".join(path.split(".")[:end]) for end in range(1, path.count(".") + 2)}
        parents |= {parent.removeprefix("contrib.") for parent in parents}  # ignite's deprecated aliases
        if not parents & listed and not all(name in listed_names for name in names[path]):
            result.append(f"ignite.{path}")
    result += [f"ignite.{path}.{name}" for path, name in missing if name not in listed_names]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ignite-python", default="/tmp/ignite-venv/bin/python", help="a Python with ignite")
    parser.add_argument("--write", type=Path, help="write the 'module name' pairs ember has to this file")
    args = parser.parse_args(argv)
    names = ignite_names(args.ignite_python)
    missing_modules, missing, present = compare(names)
    print(f"{len(names)} ignite modules, {sum(map(len, names.values()))} public names")
    print(f"\nmodules without an ember counterpart ({len(missing_modules)}):")
    for path in missing_modules:
        print(f"  ignite.{path}: {', '.join(names[path]) or '(no public names)'}")
    print(f"\nnames missing from an existing ember module ({len(missing)}):")
    for path, name in missing:
        print(f"  ignite.{path}.{name}")
    print(f"\nnames ember has: {len(present)}")
    not_in_guide = uncovered(names, missing_modules, missing)
    print(f"\nmissing but not in docs/migration.md's table ({len(not_in_guide)}):")
    for path in not_in_guide:
        print(f"  {path}")
    if args.write:
        lines = [f"{path} {name}" for path, name in present]
        header = "# ignite 0.5.5 names that ember has at the same path; written by scripts/ignite_names.py --write\n"
        args.write.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
