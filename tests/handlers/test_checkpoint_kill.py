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

# All kills land after the first iteration (none is spent on the start-up); every other one is aimed at a
# checkpoint write (sent once a new .partial file exists), the others land at a random moment of training.
KILLS = {False: 12, True: 6}
MAX_KILLS = 24


def start(script: Path, folder: Path, final: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(folder), str(final), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen[str], prefix: str) -> list[str]:
    """The lines the process prints up to and including the first that starts with ``prefix`` (or to its end)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix):
            break
    return lines


def partial_files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.name.endswith(".partial")} if folder.is_dir() else set()


def wait_for_a_write(process: subprocess.Popen[str], folder: Path) -> None:
    """Poll the folder until a write begins (a .partial file that was not there) or the process ends."""
    present = partial_files(folder)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and not partial_files(folder) - present:
        time.sleep(0.001)  # not a busy loop: on two cores it would take the CPU from the writer it waits for


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
    # a few more kills while none has yet cut a write short (on a busy machine an aimed kill can still
    # arrive after the write's rename), as the last assertion below needs one that did
    while kills < KILLS[asynchronous] or (partial_files_seen == 0 and kills < MAX_KILLS):
        process = start(training_script.path, folder, final, *options)
        if read_until(process, "ready")[-1:] != ["ready\n"]:
            raise AssertionError(f"the training script ended (status {process.wait()}) before it was ready")
        # ready comes after the resume; a run resumed from its last checkpoint may end without an iteration
        printed = read_until(process, "iteration")
        if (kills + completed) % 2 == 0:
            wait_for_a_write(process, folder)
        else:  # a random moment: in training, a checkpoint write, or the run's end (a resumed run may be near it)
            time.sleep(randomness.uniform(0.0, 0.1))
        process.send_signal(signal.SIGKILL)
        status = process.wait()
        assert process.stdout is not None
        printed += process.stdout.read().splitlines()  # what it printed before dying: "iteration N" lines
        process.stdout.close()
        iterations = [int(line.split()[1]) for line in printed if line.startswith("iteration")]
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
        left = partial_files(folder)
        partial_files_seen += bool(left - partial_before)
        partial_before = left
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
