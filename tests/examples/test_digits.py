"""The digits example trains to a useful accuracy on the real scikit-learn data set, and resumes."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from ember.examples import digits


def test_digits_example_learns_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = digits.main(["--epochs", "3", "--seed", "1", "--output-dir", str(tmp_path)])
    assert first["accuracy"] > 0.9
    out = capsys.readouterr().out
    assert "epoch  3" in out and "resuming" not in out
    assert len(list((tmp_path / "last").glob("checkpoint_*.pt"))) == 2
    assert len(list((tmp_path / "best").glob("best_model_*_accuracy=*.pt"))) == 1

    # the same command again continues the finished run: nothing left to train, same model
    again = digits.main(["--epochs", "3", "--seed", "1", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "resuming from" in out and "epoch  1" not in out
    assert again == first

    # asking for more epochs trains on from the checkpoint
    more = digits.main(["--epochs", "5", "--seed", "1", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "epoch  4" in out and "epoch  1 " not in out
    assert more["accuracy"] > 0.9


@pytest.mark.slow
def test_digits_example_rerun_after_early_stopping_trains_no_further(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command again after early stopping keeps the stopped run instead of training past the stop."""
    options = ["--epochs", "40", "--patience", "1", "--seed", "1", "--output-dir", str(tmp_path)]
    first = digits.main(options)
    out = capsys.readouterr().out
    assert "epoch 40" not in out  # stopped early
    again = digits.main(options)
    out = capsys.readouterr().out
    assert "stopped early" in out and "train loss" not in out
    assert again == first


def test_digits_example_in_a_temporary_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert digits.main(["--epochs", "2"])["accuracy"] > 0.85
    out = capsys.readouterr().out
    assert "done at epoch 2" in out
    # the folder is gone by now: the message must not send the user looking for it
    assert "checkpoints in" not in out and "pass --output-dir to keep" in out


def test_digits_progress_bar_does_not_swallow_the_epoch_lines() -> None:
    """On a terminal the bar is closed before each epoch's line is printed, so no line mixes the two."""
    controller, terminal = pty.openpty()
    # a real terminal has a width; tqdm draws nothing on a 0-column one
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "ember.examples.digits", "--epochs", "2"],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=120) == 0
    screen = b"".join(chunks).decode()
    assert "Epoch [1/2]" in screen  # the bar was drawn
    lines = [line for line in screen.replace("\r\n", "\n").split("\n") if "validation loss" in line]
    assert len(lines) == 2
    for line in lines:
        # what a terminal shows of the line: the text after its last carriage return
        assert line.split("\r")[-1].startswith("epoch "), repr(line)
