"""Test-run wiring shared by every test folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings

from ember._torch_version import FSDP2_TORCH, SHARDED_CHECKPOINT_TORCH, torch_version

# One intra-op thread per test process, and per process a test starts (spawned ranks, torchrun, scripts
# inherit OMP_NUM_THREADS). The suite runs on two xdist workers on two cores, and its tensors are tiny: with
# torch's default of a thread per core, the workers' OpenMP threads spin against each other and a small
# batch_norm took 24 ms instead of 0.03 (the differential supervised test: 66 s, now a few).
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

# `pytest tests/differential --hypothesis-profile=long`: the differential suite's long run (many more
# sequences, a new seed each time); its tests read the profile's name and keep their fixed-seed counts otherwise.
settings.register_profile(
    "long",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


PROCESS_TESTS_OPTION = "ember_process_tests"  # the workerinput key: where a worker lists its process tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, run every test that starts several processes on one worker, one at a time.

    Those tests (marked ``distributed``) start 2-process gloo groups and torchrun jobs; running two of
    them at once on a 2-core machine would only make their timeouts race. The other worker runs the
    rest beside them, including the slow tests that start one subprocess (the kill and SIGTERM tests):
    they have no timeout that a busy machine could break, and on the process tests' worker they would
    make it the suite's critical path.

    The ``xdist_group`` mark alone no longer does it: pytest-xdist 3.8 groups by a suffix it writes into
    ``item._nodeid``, which pytest 9.2's node ids do not read. So each worker also lists the process tests
    in a file, and :class:`ProcessTestsOnOneWorker` (the controller's scheduler) reads it.
    """
    skip_what_this_torch_lacks(items)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    process_tests = []
    for item in items:
        if item.get_closest_marker("distributed"):
            item.add_marker(pytest.mark.xdist_group("processes"))
            process_tests.append(item.nodeid)
    workerinput = getattr(config, "workerinput", {})
    if PROCESS_TESTS_OPTION in workerinput:
        listing = Path(f"{workerinput[PROCESS_TESTS_OPTION]}.{workerinput['workerid']}")
        partial = listing.with_name(listing.name + ".partial")
        partial.write_text(json.dumps(process_tests), encoding="utf-8")
        os.replace(partial, listing)  # the controller never reads half a list


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ProcessTestsOnOneWorker(), "ember-process-tests-on-one-worker")


class ProcessTestsOnOneWorker:
    """The controller's side: ``--dist loadgroup`` with the tests the workers listed as one group."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ember-xdist-"))

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[PROCESS_TESTS_OPTION] = str(self.folder / "process-tests")

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadGroupScheduling

        folder = self.folder

        class Scheduler(LoadGroupScheduling):  # type: ignore[misc]
            process_tests: set[str] | None = None

            def _split_scope(self, nodeid: str) -> str:
                if self.process_tests is None:  # read once all workers have collected (schedule() runs then)
                    self.process_tests = set()
                    for listing in folder.glob("process-tests.*[0-9]"):
                        self.process_tests.update(json.loads(listing.read_text(encoding="utf-8")))
                if nodeid in self.process_tests:
                    return "processes"  # the largest scope: --loadscope-reorder (the default) sends it first
                return str(super()._split_scope(nodeid))

        return Scheduler(config, log)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------- torch versions

# The code examples (docstrings of src/ember, code blocks of the docs) cannot carry a mark: one that uses
# a name of a feature needing a newer torch than pyproject's floor is skipped like a marked test.
NAMES_NEEDING_NEWER_TORCH = {
    "shard_model": (FSDP2_TORCH, "FSDP2 sharding"),
    'strategy="fsdp"': (FSDP2_TORCH, "FSDP2 sharding"),
    "ShardedSaver": (SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints"),
    "load_sharded_checkpoint": (SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints"),
    "resume_from_latest_sharded": (SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints"),
    "dcp_to_torch_save": (SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints"),
}


def _example_code(item: pytest.Item) -> str:
    """The code of a docstring example (a doctest) or of a docs code block (test_docs' ``source``), else ''."""
    test = getattr(item, "dtest", None)
    if test is not None:
        return "".join(example.source for example in test.examples)
    callspec = getattr(item, "callspec", None)
    source = callspec.params.get("source") if callspec is not None else None
    return source if isinstance(source, str) else ""


def skip_what_this_torch_lacks(items: list[pytest.Item]) -> None:
    """Skip what needs a newer torch than this one, saying which version and for what.

    A test says so with ``@pytest.mark.requires_torch(version, feature)``; a code example by using one
    of :data:`NAMES_NEEDING_NEWER_TORCH`. The floor run (``scripts/test_torch_floor.sh``) runs the whole
    suite on pyproject's lowest torch, where such a feature raises a ``RuntimeError`` naming the version
    (tests/test_torch_version.py tries that on any torch).
    """
    installed = torch_version()
    for item in items:
        marker = item.get_closest_marker("requires_torch")
        needs = [tuple(marker.args)] if marker is not None else []
        code = _example_code(item)
        needs += [needed for name, needed in NAMES_NEEDING_NEWER_TORCH.items() if name in code]
        for version, feature in needs:
            if installed < tuple(int(part) for part in version.split(".")):
                reason = f"{feature} needs torch>={version}; this is torch {torch.__version__}"
                item.add_marker(pytest.mark.skip(reason=reason))
                break
