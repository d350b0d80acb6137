"""Kill test for the experiment logs: SIGKILL a real training run at random moments, resume it, compare the logs."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ember.handlers import read_history

SCRIPT = Path(__file__).with_name("logger_training_script.py")
KILLS = 4


def run_to_the_end(folder: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, check=True, timeout=120)


def without_wall_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in row.items() if name != "wall_time"} for row in rows]


def kill_at_a_random_iteration(folder: Path, randomness: random.Random) -> int | None:
    """Start (or resume) the run, SIGKILL it a random time after an iteration; the last iteration it printed."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(folder), "--sleep", "0.02"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    target = randomness.randint(1, 12)
    seen = 0
    last = None
    deadline = time.monotonic() + 60
    for line in process.stdout:  # the script prints a line every iteration; the deadline bounds the wait
        if line.startswith("iteration"):
            last, seen = int(line.split()[1]), seen + 1
            if seen >= target or time.monotonic() > deadline:
                break
    time.sleep(randomness.uniform(0.0, 0.02))  # anywhere in the next iteration: a row, a checkpoint, the step
    process.send_signal(signal.SIGKILL)
    try:
        status = process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()
    assert status in (0, -signal.SIGKILL)
    return last


@pytest.mark.slow
def test_a_run_killed_and_resumed_logs_the_rows_of_the_uninterrupted_run(tmp_path: Path) -> None:
    """Rows up to the checkpoint are kept once, later ones rewritten: CSV and JSONL equal the uninterrupted run's."""
    reference = tmp_path / "reference"
    run_to_the_end(reference)
    randomness = random.Random(20261206)
    interrupted = tmp_path / "interrupted"
    killed_at = [kill_at_a_random_iteration(interrupted, randomness) for _ in range(KILLS)]
    run_to_the_end(interrupted)
    for name in ("log.csv", "log.jsonl"):
        expected = without_wall_time(read_history(reference / name))
        got = without_wall_time(read_history(interrupted / name))
        assert got == expected, f"{name} after kills at iterations {killed_at}"
    assert len(expected) == 33  # 30 iterations and 3 evaluations
    # the JSONL file is the same line for line, not only once parsed
    lines = [json.loads(line) for line in (interrupted / "log.jsonl").read_text().splitlines()]
    assert len(lines) == len(expected)
