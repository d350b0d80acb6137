"""A job of several processes that joined no process group is warned about; show_config logs ignite's lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import ember.distributed as idist
from ember.distributed import environment

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_TIMEOUT = 180
_LAUNCHERS = ("WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No launcher variables, and a process that has not warned yet."""
    for variable in _LAUNCHERS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(environment, "_warned", False)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, None),
        ({"WORLD_SIZE": "1"}, None),
        ({"SLURM_NTASKS": "4"}, None),  # an sbatch script: the job has 4 tasks, this step runs once
        ({"WORLD_SIZE": "2"}, (2, "torchrun (WORLD_SIZE=2)")),
        ({"SLURM_STEP_NUM_TASKS": "8"}, (8, "srun (SLURM_STEP_NUM_TASKS=8)")),
        ({"OMPI_COMM_WORLD_SIZE": "3"}, (3, "mpirun (OMPI_COMM_WORLD_SIZE=3)")),
    ],
)
def test_launched_processes_reads_the_launchers_variables(
    fresh: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: object
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert environment.launched_processes() == expected


def test_auto_helpers_warn_once_when_launched_without_a_group(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.warns(RuntimeWarning, match=r"torchrun \(WORLD_SIZE=2\) started 2 processes \(this is rank 1\)"):
        idist.auto_model(torch.nn.Linear(2, 1))
    with warnings.catch_warnings():  # once per process: the next helpers stay quiet
        warnings.simplefilter("error")
        idist.auto_dataloader(list(range(4)), batch_size=2)
        idist.auto_optim(torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1))


def test_nothing_is_said_in_a_plain_process(fresh: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idist.auto_model(torch.nn.Linear(2, 1))
        idist.auto_dataloader(list(range(4)), batch_size=2)
    assert environment.warn_if_launched_without_group() is False


def test_show_config_prints_ignites_lines(fresh: None, capfd: pytest.CaptureFixture[str]) -> None:
    """Printed without any logging set-up, the same lines in the same order as ignite's show_config here."""
    import ignite.distributed as ignite_idist

    printed = {}
    for name, show in (("ignite", ignite_idist.show_config), ("ember", idist.show_config)):
        capfd.readouterr()
        show()
        err = capfd.readouterr().err
        printed[name] = [line.split(" INFO: ", 1)[1] for line in err.splitlines() if " INFO: " in line]
        assert all(f"{name}.distributed.utils INFO: " in line for line in err.splitlines() if line)
    assert len(printed["ember"]) == 10 and printed["ember"] == printed["ignite"]
    from ember.distributed import utils

    assert utils.show_config is idist.show_config


# --------------------------------------------------------------------------- a real torchrun launch

NO_GROUP = """
import torch
import ember.distributed as idist

model = idist.auto_model(torch.nn.Linear(2, 1))
loader = idist.auto_dataloader(list(range(8)), batch_size=4)
idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.1))
print(f"world size {idist.get_world_size()}, {len(loader)} batches", flush=True)
"""


def _doc_training_script() -> str:
    """The `train.py` of docs/distributed.md, as the guide shows it."""
    guide = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    section = guide[guide.index("## A training script") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def _torchrun(tmp_path: Path, source: str) -> tuple[int, str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(source))
    environment_variables = {k: v for k, v in os.environ.items() if k not in _LAUNCHERS}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, env=environment_variables, cwd=tmp_path
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.distributed
@pytest.mark.slow
def test_torchrun_without_a_group_warns_in_each_process_once(tmp_path: Path) -> None:
    code, output = _torchrun(tmp_path, NO_GROUP)
    assert code == 0, output
    warnings_seen = re.findall(
        r"RuntimeWarning: torchrun \(WORLD_SIZE=2\) started 2 processes \(this is rank (\d)\)", output
    )
    assert sorted(warnings_seen) == ["0", "1"], output
    assert output.count("world size 1, 2 batches") == 2  # what the warning is about: two separate jobs


@pytest.mark.distributed
@pytest.mark.slow
def test_the_guides_train_py_under_torchrun_trains_as_one_job(tmp_path: Path) -> None:
    """docs/distributed.md's train.py, launched with torchrun as the guide says: one group, one report per epoch."""
    code, output = _torchrun(tmp_path, _doc_training_script())
    assert code == 0, output
    assert "RuntimeWarning" not in output, output
    assert len(re.findall(r"^epoch 1: loss", output, re.M)) == 1, output
    assert len(re.findall(r"^epoch 2: loss", output, re.M)) == 1, output
