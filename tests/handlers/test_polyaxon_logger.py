"""PolyaxonLogger against the real Polyaxon client in offline mode: the run's metric event files are read back.

Polyaxon (v2) runs without a server with ``is_offline=True``: each metric is a ``step|timestamp|value``
file under ``<artifacts_path>/events/metric``. Polyaxon is not in the ``dev`` extra (it pins an older
Jinja2 and pulls kubernetes): these tests skip without it.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.handlers.tracker_program import run_program

from ember.engine import Engine, Events
from ember.handlers.polyaxon_logger import OptimizerParamsHandler, OutputHandler, PolyaxonLogger


def _offline_run_arguments(folder: Path) -> dict[str, Any]:
    return {
        "project": "ember-test",
        "is_offline": True,
        "is_new": True,
        "artifacts_path": str(folder),
        "track_code": False,
        "track_env": False,
        "track_logs": False,
        "collect_resources": False,
    }


def _metrics(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{metric file name: [(step, value), ...]}`` of the offline run's metric events (timestamps left out)."""
    metrics = {}
    for path in sorted((folder / "events" / "metric").glob("*.plx")):
        header, *rows = path.read_text().splitlines()
        assert header == "step|timestamp|metric"
        metrics[path.stem] = [(int(row.split("|")[0]), float(row.split("|")[2])) for row in rows]
    return metrics


def test_offline_run_holds_what_ignites_holds(tmp_path: Path) -> None:
    """The same program logs the same metrics (names, steps, values) through ember's and ignite's PolyaxonLogger."""
    pytest.importorskip("polyaxon.tracking")
    results = {}
    for package in ("ember", "ignite"):
        module = importlib.import_module(f"{package}.handlers.polyaxon_logger")
        logger = module.PolyaxonLogger(**_offline_run_arguments(tmp_path / package))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_program(package, logger, module)
        logger.close()
        results[package] = _metrics(tmp_path / package)
    assert results["ember"] == results["ignite"]
    ours = results["ember"]
    assert ours["lr__group_0"][0] == (1, pytest.approx(0.1))
    assert [step for step, _ in ours["training__loss"]] == [1, 2, 3, 4, 5, 6]
    assert {"training__pair__1", "training__alpha", "validation__mse"} <= set(ours)


def test_missing_polyaxon_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polyaxon", None)
    monkeypatch.setitem(sys.modules, "polyaxon.tracking", None)
    monkeypatch.setitem(sys.modules, "polyaxon_client", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[polyaxon\]'"):
        PolyaxonLogger()


def test_handlers_check_their_logger_and_input() -> None:
    engine = Engine(lambda engine, batch: 1.0)
    with pytest.raises(TypeError, match="logs only through a PolyaxonLogger"):
        OutputHandler("t", output_transform=float)(engine, object(), Events.ITERATION_COMPLETED)
    with pytest.raises(TypeError, match="logs only through a PolyaxonLogger"):
        OptimizerParamsHandler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))(
            engine, object(), Events.ITERATION_STARTED
        )
    with pytest.raises(TypeError, match="global_step_transform"):
        OutputHandler("t", output_transform=float, global_step_transform=3)  # type: ignore[arg-type]
