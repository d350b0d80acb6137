"""One discovery of the newest valid checkpoint, for plain files and sharded folders alike.

Both kinds are found by the same rule and behave the same way: a damaged newest checkpoint is skipped
with a warning naming it, a missing folder is warned about on resume, and a checkpoint removed while
the folder is read (a running save dropping an older one) is no error.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from ember import Engine
from ember._torch_version import SHARDED_CHECKPOINT_TORCH
from ember.handlers import (
    Checkpoint,
    find_latest_checkpoint,
    find_latest_sharded_checkpoint,
    resume_from_latest,
    resume_from_latest_sharded,
)
from ember.handlers.sharded_checkpoint import MARKER, ShardedSaver

SHARDED = pytest.mark.requires_torch(SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints")
KINDS = ["files", pytest.param("sharded", marks=SHARDED)]
FIND: dict[str, Callable[..., Path | None]] = {
    "files": find_latest_checkpoint,
    "sharded": find_latest_sharded_checkpoint,
}
RESUME: dict[str, Callable[..., Path | None]] = {"files": resume_from_latest, "sharded": resume_from_latest_sharded}


def write_checkpoints(kind: str, folder: Path, steps: list[int]) -> None:
    """Real checkpoints of a model and an engine at ``steps``: files through a DiskSaver, folders through DCP."""
    engine = Engine(lambda engine, batch: None)
    saver: Any = folder if kind == "files" else ShardedSaver(folder)
    checkpoint = Checkpoint({"model": torch.nn.Linear(2, 1), "trainer": engine}, saver, n_saved=None)
    for step in steps:
        engine.state.epoch, engine.state.epoch_length, engine.state.iteration = 1, step, step
        checkpoint(engine)


def damage(kind: str, folder: Path, step: int) -> Path:
    """Cut the checkpoint of ``step`` short, as a crash in the middle of writing it would."""
    target = folder / f"checkpoint_{step}.pt" if kind == "files" else folder / f"checkpoint_{step}" / "__0_0.distcp"
    target.write_bytes(target.read_bytes()[:100])
    return target if kind == "files" else target.parent


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_newest_checkpoint_is_skipped_with_a_warning_naming_it(kind: str, tmp_path: Path) -> None:
    write_checkpoints(kind, tmp_path, [1, 2, 3])
    damaged = damage(kind, tmp_path, 3)
    with pytest.warns(UserWarning, match=rf"Skipping {'sharded ' if kind == 'sharded' else ''}checkpoint {damaged}"):
        found = FIND[kind](tmp_path)
    assert found is not None and found.name.startswith("checkpoint_2")


@pytest.mark.parametrize("kind", KINDS)
def test_the_highest_step_wins_over_the_newest_file(kind: str, tmp_path: Path) -> None:
    write_checkpoints(kind, tmp_path, [10, 9])  # step 9 written last
    found = FIND[kind](tmp_path)
    assert found is not None and found.name.startswith("checkpoint_10")


@pytest.mark.parametrize("kind", KINDS)
def test_resuming_from_a_folder_that_does_not_exist_warns_and_starts_fresh(kind: str, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"checkpoint folder '.*typo' does not exist; starting a new run"):
        assert RESUME[kind]({"model": torch.nn.Linear(2, 1)}, tmp_path / "typo") is None


@pytest.mark.parametrize("kind", KINDS)
def test_resume_loads_the_newest_valid_checkpoint(kind: str, tmp_path: Path) -> None:
    write_checkpoints(kind, tmp_path, [4, 5])
    damage(kind, tmp_path, 5)
    engine = Engine(lambda engine, batch: None)
    with pytest.warns(UserWarning, match="Skipping"):
        resumed = RESUME[kind]({"model": torch.nn.Linear(2, 1), "trainer": engine}, tmp_path)
    assert resumed is not None and resumed.name.startswith("checkpoint_4")
    assert engine.state.iteration == 4


def churn(kind: str, folder: Path, stop: threading.Event) -> Iterator[None]:
    """Checkpoints appearing and vanishing by atomic renames, as a saver publishing and dropping them does.

    About 40 are present at any time, so that one listed at the start of a scan is gone by its end.
    """
    marker = b'{"format": "ember.sharded-checkpoint"}'
    present: deque[Path] = deque()
    count = 0
    while not stop.is_set():
        count += 1
        hidden, final = folder / f".scratch_{count}", folder / f"checkpoint_{count}{'.pt' if kind == 'files' else ''}"
        if kind == "files":
            hidden.write_bytes(b"not a checkpoint")
        else:
            hidden.mkdir()
            (hidden / MARKER).write_bytes(marker)
        os.replace(hidden, final)
        present.append(final)
        yield
        if len(present) > 40:
            gone = folder / f".gone_{count}"
            os.replace(present.popleft(), gone)
            if gone.is_dir():
                shutil.rmtree(gone)
            else:
                gone.unlink()


@pytest.mark.parametrize("kind", KINDS)
def test_a_checkpoint_removed_while_the_folder_is_read_is_no_error(kind: str, tmp_path: Path) -> None:
    """A thread publishes and removes checkpoints while the main thread looks for the newest: never an exception."""
    write_checkpoints(kind, tmp_path, [0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def remover() -> None:
        try:
            for _ in churn(kind, tmp_path, stop):
                pass
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that the race is hit
    thread = threading.Thread(target=remover)
    thread.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the churned entries are not valid checkpoints: skipped with a warning
            for _ in range(400):
                FIND[kind](tmp_path)
    finally:
        stop.set()
        thread.join(timeout=30)
        sys.setswitchinterval(interval)
    assert not errors
