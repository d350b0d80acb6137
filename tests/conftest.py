"""Test-run wiring shared by every test folder."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, run every test that starts processes (or is slow) on one worker, one at a time.

    Those tests start 2-process gloo groups, torchrun jobs and subprocesses killed on purpose; running
    two of them at once on a 2-core machine would only make their timeouts race. The other worker runs
    the single-process tests beside them.
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("distributed") or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("processes"))
