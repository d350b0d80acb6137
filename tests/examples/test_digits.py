"""The digits example trains to a useful accuracy on the real scikit-learn data set, logs, plots and resumes."""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ember.engine import Engine, Events
from ember.examples import digits

QUICK = ["--epochs", "3", "--seed", "1"]


def epoch_lines(out: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^epoch +(\d+)/\d+ .*$", out, re.MULTILINE)}


def test_digits_learns_prints_each_epoch_and_writes_logs_curves_and_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = digits.main([*QUICK, "--output-dir", str(tmp_path)])
    assert result["accuracy"] > 0.9
    out = capsys.readouterr().out
    lines = epoch_lines(out)
    assert sorted(lines) == [1, 2, 3]
    assert re.fullmatch(
        r"epoch  1/3  train loss \d\.\d{4}  validation accuracy 0\.\d{4}  loss \d\.\d{4}  lr 0\.0500  \d+\.\ds",
        lines[1],
    )
    # the lr printed is the one the epoch trained with: the cosine of 3 epochs after 2 of them
    assert f"lr {0.05 * digits.cosine_factor(2, 3):.4f}" in lines[3]
    assert "stopped: reached --epochs 3" in out
    assert f"written to {tmp_path}" in out

    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    epochs = [row for row in rows if row["event"] == "EPOCH_COMPLETED"]
    assert [row["step"] for row in epochs] == ["1", "2", "3"]
    # the CSV's epoch-mean training loss is the one printed
    assert f"train loss {float(epochs[0]['train/loss']):.4f}" in lines[1]
    validation = [row for row in rows if row["validation/accuracy"]]
    assert [row["step"] for row in validation] == ["1", "2", "3"]
    assert float(validation[-1]["validation/accuracy"]) == pytest.approx(result["accuracy"])
    assert [row["step"] for row in rows if row["train/batch_loss"]][:2] == ["10", "20"]

    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars("validation/accuracy")] == [1, 2, 3]
    assert round(accumulator.Scalars("lr/group_0")[0].value, 4) == 0.05

    from matplotlib import image

    pixels = image.imread(str(tmp_path / "curves.png"))
    assert pixels.shape[0] > 300 and pixels.std() > 0.05  # decoded, and not one flat colour
    assert len(list((tmp_path / "checkpoints" / "last").glob("checkpoint_*.pt"))) == 2
    assert len(list((tmp_path / "checkpoints" / "best").glob("best_*accuracy=*.pt"))) == 1


def test_resume_continues_exactly_where_the_last_checkpoint_left_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that lost its epoch-3 checkpoint (a crash after epoch 2) resumes to the very same model."""
    straight = digits.main([*QUICK, "--output-dir", str(tmp_path)])
    capsys.readouterr()
    newest = max((tmp_path / "checkpoints" / "last").glob("checkpoint_*.pt"), key=lambda p: p.stat().st_mtime)
    newest.unlink()
    resumed = digits.main([*QUICK, "--output-dir", str(tmp_path), "--resume"])
    out = capsys.readouterr().out
    assert "resuming" in out and "(epoch 2)" in out
    assert sorted(epoch_lines(out)) == [3]
    assert resumed == straight  # the same accuracy and loss, to the last bit


def test_resume_with_more_epochs_rebuilds_the_cosine_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits.main([*QUICK, "--output-dir", str(tmp_path)])
    capsys.readouterr()
    longer = digits.main(["--epochs", "5", "--seed", "1", "--output-dir", str(tmp_path), "--resume"])
    out = capsys.readouterr().out
    assert "training to 5 epochs instead of 3: the cosine schedule is rebuilt for 5 epochs" in out
    lines = epoch_lines(out)
    assert sorted(lines) == [4, 5]
    # epoch 4 trains at the 5-epoch cosine after 3 epochs, not at the old schedule's end (0)
    assert f"lr {0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 5)):.4f}" in lines[4]
    assert longer["epoch"] == 5 and longer["reason"] == "reached --epochs 5"
    # and the same command again has nothing left to do
    again = digits.main(["--epochs", "5", "--seed", "1", "--output-dir", str(tmp_path), "--resume"])
    assert epoch_lines(capsys.readouterr().out) == {}
    assert again == longer


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (["--batch-size", "64"], r"started with --batch-size 32 \(now 64\), and cannot continue"),
        (["--lr", "0.1"], r"started with --lr 0.05 \(now 0.1\)"),
        (["--epochs", "1"], r"--epochs 1 is less than the 2 epochs this run has trained"),
    ],
)
def test_resume_refuses_options_the_saved_run_cannot_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changed: list[str], message: str
) -> None:
    digits.main(["--epochs", "2", "--output-dir", str(tmp_path)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        digits.main(["--epochs", "2", "--output-dir", str(tmp_path), "--resume", *changed])
    assert stopped.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_an_existing_run_is_not_continued_or_overwritten_without_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits.main(["--epochs", "1", "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        digits.main(["--epochs", "2", "--output-dir", str(tmp_path)])
    assert "already holds a run. Pass --resume to continue it" in capsys.readouterr().err


def test_default_output_folder_is_a_new_timestamped_run_that_resume_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    digits.main(["--epochs", "1", "--amp", "bf16"])
    (folder,) = (tmp_path / "runs").glob("digits-*")
    assert f"written to {Path('runs') / folder.name}" in capsys.readouterr().out
    digits.main(["--epochs", "2", "--amp", "bf16", "--resume"])
    out = capsys.readouterr().out
    assert f"resuming {Path('runs') / folder.name}" in out and sorted(epoch_lines(out)) == [2]


@pytest.mark.slow
def test_early_stopping_says_when_and_with_which_best_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = ["--epochs", "40", "--patience", "1", "--seed", "1", "--output-dir", str(tmp_path)]
    first = digits.main(options)
    out = capsys.readouterr().out
    match = re.search(
        r"stopped: early stopping at epoch (\d+): no better validation accuracy for 1 epochs "
        r"\(best (0\.\d{4}) at epoch (\d+)\)",
        out,
    )
    assert match is not None, out
    stop, best, best_epoch = int(match.group(1)), float(match.group(2)), int(match.group(3))
    assert stop < 40 and best_epoch == stop - 1
    assert f"validation accuracy {best:.4f}" in epoch_lines(out)[best_epoch]
    # resumed, the stopped run stays stopped
    again = digits.main([*options, "--resume"])
    out = capsys.readouterr().out
    assert epoch_lines(out) == {} and "stopped: early stopping" in out
    assert again == first


def test_help_shows_the_defaults() -> None:
    text = digits.parser().format_help()
    for expected in ("--epochs EPOCHS", "(default: 15)", "(default: 32)", "(default: 0.05)", "runs/digits-<date>"):
        assert expected in text


def test_digits_progress_bar_does_not_swallow_the_epoch_lines(tmp_path: Path) -> None:
    """On a terminal the bar is closed before each epoch's line is printed, so no line mixes the two."""
    controller, terminal = pty.openpty()
    # a real terminal has a width; tqdm draws nothing on a 0-column one
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "ember.examples.digits", "--epochs", "2"],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=tmp_path,
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
    lines = [line for line in screen.replace("\r\n", "\n").split("\n") if "train loss" in line]
    assert len(lines) == 2
    for line in lines:
        # what a terminal shows of the line: the text after its last carriage return
        assert line.split("\r")[-1].startswith("epoch "), repr(line)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.distributed
def test_digits_under_torchrun_is_one_job_whose_rank_0_prints_and_writes(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "ember.examples.digits",
        "--epochs",
        "4",
        "--output-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = epoch_lines(result.stdout)
    assert sorted(lines) == [1, 2, 3, 4]  # printed once: by rank 0 only
    assert result.stdout.count("stopped: reached --epochs 4") == 1
    accuracy = float(re.search(r"final validation accuracy (0\.\d+)", result.stdout).group(1))  # type: ignore[union-attr]
    assert accuracy > 0.75  # half the steps per epoch of one process (the gradients of two halves averaged)
    with open(tmp_path / "metrics.csv", newline="") as handle:
        steps = [row["step"] for row in csv.DictReader(handle) if row["event"] == "EPOCH_COMPLETED"]
    assert steps == ["1", "2", "3", "4"]  # one writer: no rank's rows twice
    # each rank trained on half the data: half the iterations per epoch of a one-process run
    with open(tmp_path / "metrics.csv", newline="") as handle:
        iterations = max(int(row["step"]) for row in csv.DictReader(handle) if row["train/batch_loss"])
    assert iterations <= 4 * 23


def test_a_time_limit_stops_the_run_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = digits.main(["--epochs", "5", "--time-limit", "0.001", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["reason"] == "time limit of 0.001s reached at epoch 1"
    assert "stopped: time limit of 0.001s reached at epoch 1" in out
    assert epoch_lines(out) == {}  # stopped within the first epoch


@pytest.mark.slow
def test_sigterm_checkpoints_says_preempted_and_resume_goes_on(tmp_path: Path) -> None:
    """A real SIGTERM in the middle of the run: status 75, the reason printed, and --resume finishes the run."""
    command = [sys.executable, "-u", "-m", "ember.examples.digits", "--epochs", "40", "--patience", "40"]
    process = subprocess.Popen(
        [*command, "--output-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:  # wait until the run is well under way
        printed.append(line)
        if line.startswith("epoch  2/"):
            process.send_signal(signal.SIGTERM)
            break
    rest, errors = process.communicate(timeout=120)
    out = "".join(printed) + rest
    assert process.returncode == 75, errors[-2000:]
    assert re.search(r"stopped: preempted at epoch \d+, iteration \d+", out)
    assert "continue with --resume" in out
    resumed = subprocess.run(
        [*command, "--epochs", "4", "--output-dir", str(tmp_path), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "stopped: reached --epochs 4" in resumed.stdout


def preempt_at(monkeypatch: pytest.MonkeyPatch, iteration: int) -> None:
    """The next digits run gets a real SIGTERM from within, right after ``iteration``."""
    create = digits.create_supervised_trainer

    def create_and_schedule_a_sigterm(*args: object, **kwargs: object) -> Engine:
        trainer = create(*args, **kwargs)  # type: ignore[arg-type]
        trainer.add_event_handler(
            Events.ITERATION_COMPLETED(once=iteration), lambda: os.kill(os.getpid(), signal.SIGTERM)
        )
        return trainer

    monkeypatch.setattr(digits, "create_supervised_trainer", create_and_schedule_a_sigterm)


def without_time(line: str) -> str:
    return re.sub(r"  \d+\.\ds$", "", line)


def test_an_epoch_resumed_in_its_middle_prints_its_whole_mean_loss_and_this_process_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preempted at iteration 60 (epoch 2 of 45 iterations each): the resumed run prints the uninterrupted lines."""
    straight = digits.main([*QUICK, "--output-dir", str(tmp_path / "straight")])
    straight_lines = epoch_lines(capsys.readouterr().out)
    preempt_at(monkeypatch, 60)
    with pytest.raises(SystemExit) as stopped:
        digits.main([*QUICK, "--output-dir", str(tmp_path / "preempted")])
    assert stopped.value.code == 75
    assert "stopped: preempted at epoch 2, iteration 60" in capsys.readouterr().out
    monkeypatch.undo()
    began = time.perf_counter()
    resumed = digits.main([*QUICK, "--output-dir", str(tmp_path / "preempted"), "--resume"])
    took = time.perf_counter() - began
    lines = epoch_lines(capsys.readouterr().out)
    assert sorted(lines) == [2, 3]
    # the epoch's mean loss over all its 45 batches, as in the uninterrupted run (the metric is in the checkpoint)
    assert [without_time(lines[epoch]) for epoch in (2, 3)] == [without_time(straight_lines[epoch]) for epoch in (2, 3)]
    # the time of the resumed epoch is this process's part of it, not the time since the clock's origin
    assert float(re.search(r"(\d+\.\d)s$", lines[2]).group(1)) <= took + 0.1  # type: ignore[union-attr]
    assert resumed == straight


def test_an_early_stopped_run_stays_stopped_when_resumed_without_its_patience(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.json keeps --patience; only a larger --patience given again trains on."""
    # a learning rate this small changes no prediction: epoch 2 is no better than epoch 1
    options = ["--epochs", "6", "--lr", "1e-9", "--patience", "1", "--output-dir", str(tmp_path)]
    first = digits.main(options)
    out = capsys.readouterr().out
    assert sorted(epoch_lines(out)) == [1, 2] and first["reason"].startswith("early stopping at epoch 2")
    assert json.loads((tmp_path / "config.json").read_text())["patience"] == 1
    again = digits.main([*options[:4], "--output-dir", str(tmp_path), "--resume"])  # no --patience
    out = capsys.readouterr().out
    assert epoch_lines(out) == {} and "stopped: early stopping at epoch 2" in out
    assert again == first
    longer = digits.main([*options[:4], "--patience", "2", "--output-dir", str(tmp_path), "--resume"])
    out = capsys.readouterr().out
    assert "early stopping's patience is now 2 (the run was started with 1)" in out
    assert sorted(epoch_lines(out)) == [3] and longer["reason"].startswith("early stopping at epoch 3")


def test_a_new_run_is_refused_a_folder_that_holds_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another program's files (or a run that never checkpointed) are not mixed with a new run's logs."""
    (tmp_path / "metrics.csv").write_text("step,value\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(SystemExit) as stopped:
        digits.main(["--epochs", "1", "--output-dir", str(tmp_path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} already holds files (metrics.csv, notes.txt) but no checkpoint to resume from" in err
    assert "Pass another --output-dir" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.csv", "notes.txt"]  # nothing written


def test_resume_from_a_folder_without_a_checkpoint_does_not_lead_into_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume where there is no checkpoint: an empty folder may take a new run, one with files may not."""
    with pytest.raises(SystemExit):
        digits.main(["--epochs", "1", "--output-dir", str(tmp_path / "empty"), "--resume"])
    assert "holds no run to resume. Run without --resume to start a new run there." in capsys.readouterr().err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "config.json").write_text("{}")
    with pytest.raises(SystemExit):
        digits.main(["--epochs", "1", "--output-dir", str(tmp_path / "used"), "--resume"])
    err = capsys.readouterr().err
    assert "holds no checkpoint to resume from (it holds config.json:" in err
    assert "Start a new run with another --output-dir" in err and "Run without --resume" not in err


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digits.time, "strftime", lambda pattern: "digits-20260101-120000")
    first = digits.new_run_folder(tmp_path)
    first.mkdir()
    second = digits.new_run_folder(tmp_path)
    second.mkdir()
    assert [first.name, second.name, digits.new_run_folder(tmp_path).name] == [
        "digits-20260101-120000",
        "digits-20260101-120000-2",
        "digits-20260101-120000-3",
    ]
