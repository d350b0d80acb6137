"""Kill test: SIGKILL a real training process at random moments; no checkpoint is ever lost or damaged."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from ember.handlers import find_latest_checkpoint, load_checkpoint

KILLS = {False: 20, True: 6}
MAX_KILLS = 40


def start(script: Path, folder: Path, final: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(folder), str(final), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def wait_for_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "ready":
            return
    raise AssertionError(f"the training script ended (status {process.wait()}) before it was ready")


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_sigkill_at_random_moments_never_loses_the_run(
    tmp_path: Path, reference_weights: dict[str, torch.Tensor], training_script: Any, asynchronous: bool
) -> None:
    """After each kill every checkpoint present validates; the run resumed from the latest ends bit-identical."""
    randomness = random.Random(20261124 + asynchronous)
    options = ["--asynchronous"] if asynchronous else []
    folder, final = tmp_path / "checkpoints", tmp_path / "final.pt"
    kills = completed = partial_files_seen = 0
    partial_before: set[str] = set()
    # a few more kills while none has yet cut a write short: with only 6 kills (async) a busy machine
    # sometimes lets every kill land between writes, and the last assertion below needs one that did not
    while kills < KILLS[asynchronous] or (partial_files_seen == 0 and kills < MAX_KILLS):
        process = start(training_script.path, folder, final, *options)
        wait_for_ready(process)
        # ready comes after the resume; the kill lands in training, a checkpoint write, or the run's end
        time.sleep(randomness.uniform(0.0, 0.25))
        process.send_signal(signal.SIGKILL)
        status = process.wait()
        assert process.stdout is not None
        printed = process.stdout.read().split()  # what it printed before dying: "iteration N" lines
        process.stdout.close()
        iterations = [int(word) for word in printed if word.isdigit()]
        # "iteration N" is printed after the save of iteration N (sync); an async save is durable once the next
        # save has waited for it. Before that, a fresh run killed early may rightly have no checkpoint yet.
        saved_one = bool(iterations) and max(iterations) >= (2 if asynchronous else 1)
        has_checkpoints = folder.is_dir() and any(folder.glob("*.pt"))
        if status == 0:  # finished before the kill: check it, then start a new run from scratch
            training_script.assert_same_weights(final, reference_weights)
            completed += 1
            shutil.rmtree(folder)
            final.unlink()
            partial_before = set()
            continue
        assert status == -signal.SIGKILL
        kills += 1
        partial_files = {path.name for path in folder.iterdir() if path.name.endswith(".partial")}
        partial_files_seen += bool(partial_files - partial_before)
        partial_before = partial_files
        for path in folder.glob("*.pt"):
            load_checkpoint(path)  # raises if any finished checkpoint is damaged
        if saved_one or has_checkpoints:
            assert find_latest_checkpoint(folder) is not None
    # finish the last interrupted run and compare it with the run that was never interrupted
    training_script.train(folder, final, *options)
    training_script.assert_same_weights(final, reference_weights)
    # writes take most of the script's time, so some kills must have cut one short (a .partial file left)
    assert partial_files_seen > 0
    print(f"{kills} kills, {completed} runs completed between kills, {partial_files_seen} kills left a partial write")
