"""The differential suite: the same programs on pytorch-ignite 0.5.5 and on ember, results compared.

pytorch-ignite is a test-only oracle (the ``dev`` extra); ``ember`` never imports it. Each test file
sizes its hypothesis runs with :func:`differential_settings`-style code: a fixed seed and fixed counts
in CI, many more and a new seed under ``pytest tests/differential --hypothesis-profile=long``.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("ignite", reason="the differential suite needs pytorch-ignite 0.5.5 (the dev extra)")


@pytest.fixture(autouse=True)
def _quiet_ignite_logs() -> None:
    """ignite logs every run at INFO; keep the captured logs small."""
    logging.getLogger("ignite").setLevel(logging.WARNING)
