"""Test-run wiring shared by every test folder."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# `pytest tests/differential --hypothesis-profile=long`: the differential suite's long run (many more
# sequences, a new seed each time); its tests read the profile's name and keep their fixed-seed counts otherwise.
settings.register_profile(
    "long",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


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
