"""PreemptionHandler: a real SIGTERM ends a real run with a checkpoint and the documented exit status."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from ember import Engine, Events
from ember.handlers import (
    PREEMPTED_EXIT_CODE,
    Checkpoint,
    ModelCheckpoint,
    PreemptionHandler,
    find_latest_checkpoint,
    load_checkpoint,
)


def test_exit_status_is_documented_value() -> None:
    assert PREEMPTED_EXIT_CODE == 75


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_sigterm_checkpoints_exits_75_and_resumes_identically(
    tmp_path: Path, reference_weights: dict[str, torch.Tensor], training_script: Any, asynchronous: bool
) -> None:
    folder, final = tmp_path / "checkpoints", tmp_path / "final.pt"
    options = ["--every", "50", "--sleep", "0.01", *(["--asynchronous"] if asynchronous else [])]
    process = subprocess.Popen(
        [sys.executable, str(training_script.path), str(folder), str(final), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "iteration 7":
            process.send_signal(signal.SIGTERM)
            break
    printed = [line.strip() for line in process.stdout]
    status = process.wait()
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    assert status == PREEMPTED_EXIT_CODE, stderr
    assert "Received SIGTERM" in stderr
    last_iteration = int(([line for line in printed if line.startswith("iteration")] or ["iteration 7"])[-1].split()[1])
    # the iteration in progress finished, and the checkpoint holds exactly that point (not a periodic save)
    latest = find_latest_checkpoint(folder)
    assert latest is not None
    assert load_checkpoint(latest)["trainer"]["iteration"] == last_iteration
    assert last_iteration < 50 and not final.exists()
    training_script.train(folder, final, *options)
    training_script.assert_same_weights(final, reference_weights)


def counting_trainer() -> Engine:
    return Engine(lambda engine, batch: batch)


def test_in_process_signal_interrupts_then_run_continues(tmp_path: Path) -> None:
    """With exit_code=None a real SIGTERM interrupts the run; run() again finishes it; handlers are restored."""
    before = signal.getsignal(signal.SIGTERM)
    trainer = counting_trainer()
    handler = PreemptionHandler(Checkpoint({"trainer": trainer}, tmp_path, n_saved=None), exit_code=None)
    handler.attach(trainer)
    assert signal.getsignal(signal.SIGTERM) is before  # attaching installs nothing yet
    trainer.add_event_handler(Events.ITERATION_STARTED(once=4), lambda: os.kill(os.getpid(), signal.SIGTERM))
    state = trainer.run(range(10), max_epochs=1)
    assert handler.preempted and state.iteration == 4
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trainer_4.pt"]
    # a checkpoint of one object holds its bare state dict, as in ignite
    assert load_checkpoint(tmp_path / "trainer_4.pt")["epoch_completed"] is False
    assert trainer.run(range(10)).iteration == 10
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigusr1_exits_with_the_status(tmp_path: Path) -> None:
    trainer = counting_trainer()
    PreemptionHandler(Checkpoint({"trainer": trainer}, tmp_path), signals=[signal.SIGUSR1]).attach(trainer)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda: os.kill(os.getpid(), signal.SIGUSR1))
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(SystemExit) as exit_info:
        trainer.run(range(5), max_epochs=1)
    assert exit_info.value.code == PREEMPTED_EXIT_CODE
    assert (tmp_path / "trainer_2.pt").is_file()
    assert signal.getsignal(signal.SIGUSR1) is before


def test_model_checkpoint_is_written_on_preemption(tmp_path: Path) -> None:
    """A ModelCheckpoint attached with its objects is written on a signal, even before its first save."""
    trainer = counting_trainer()
    checkpoint = ModelCheckpoint(tmp_path, "run", n_saved=None)
    checkpoint.attach(trainer, Events.EPOCH_COMPLETED, {"trainer": trainer})
    PreemptionHandler(checkpoint, exit_code=None).attach(trainer)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda: os.kill(os.getpid(), signal.SIGTERM))
    trainer.run(range(5), max_epochs=1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run_trainer_2.pt"]


def test_model_checkpoint_without_objects_fails_when_the_run_starts(tmp_path: Path) -> None:
    """Attached through add_event_handler, a ModelCheckpoint learns its objects too late for a preemption."""
    trainer = counting_trainer()
    checkpoint = ModelCheckpoint(tmp_path)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint, {"trainer": trainer})
    PreemptionHandler(checkpoint).attach(trainer)
    with pytest.raises(RuntimeError, match=r"ModelCheckpoint.attach\(engine, event, to_save\)"):
        trainer.run(range(5), max_epochs=1)


def test_a_run_outside_the_main_thread_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    """Python installs signal handlers only from the main thread: the error says so and what to do."""
    trainer = counting_trainer()
    PreemptionHandler(Checkpoint({"trainer": trainer}, tmp_path)).attach(trainer)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            trainer.run(range(3))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert re.search(r"only from the main thread.*Run the trainer in the main thread", str(errors[0]))


def test_a_run_without_signal_is_untouched(tmp_path: Path) -> None:
    trainer = counting_trainer()
    handler = PreemptionHandler(Checkpoint({"trainer": trainer}, tmp_path))
    handler.attach(trainer)
    assert trainer.run(range(3), max_epochs=2).iteration == 6
    assert not handler.preempted and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"checkpoint": "folder"}, TypeError, "checkpoint must be an ember.handlers.Checkpoint, got str"),
        ({"signals": []}, ValueError, "signals is empty"),
        ({"exit_code": "75"}, TypeError, "exit_code must be an integer or None"),
        ({"signals": [9999]}, ValueError, r"signals must be signal numbers such as signal.SIGTERM, got \[9999\]"),
        ({"sync_every": 0}, ValueError, "sync_every must be a positive integer number of iterations, got 0"),
    ],
    ids=["checkpoint", "no-signals", "exit-code", "unknown-signal", "sync-every"],
)
def test_bad_input(tmp_path: Path, arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    options: dict[str, Any] = {"checkpoint": Checkpoint({"trainer": counting_trainer()}, tmp_path), **arguments}
    with pytest.raises(error, match=message):
        PreemptionHandler(**options)
