"""Two-process launches that abort at exit: how many of N launches end with a rank killed by SIGABRT.

Run: ``python benchmarks/launch_aborts.py`` (about 5 minutes on 2 cores). Each launch starts two
gloo ranks on 127.0.0.1 that train a small DDP model with ``auto_*``, evaluate it with a metric
and leave the group. It prints, per launcher, how many launches had a rank that returned its
result and then died while exiting ("terminate called without an active exception", SIGABRT):

- ``Parallel(backend="gloo", nproc_per_node=2)`` launches (``--spawn``, 40 by default): the
  launcher warns when a rank exits non-zero after reporting, and this script counts the warnings;
- ``torchrun --standalone --nproc_per_node=2`` launches (``--torchrun``, 10 by default): a job
  whose exit status is not 0, or whose output holds the abort message, counts.

``--before`` reproduces what ember did before the fix: each rank re-imports
``torch.distributed.nn.functional`` once the group exists, as DistributedDataParallel's first
import of it did, so that its default arguments hold the world group past
``destroy_process_group`` (see ``ember.distributed.initialize``); the aborts then come back.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import warnings

import torch

import ember.distributed as idist
from ember.engine import create_supervised_evaluator, create_supervised_trainer
from ember.metrics import MeanSquaredError

ABORT = "terminate called without an active exception"


def job(local_rank: int, before: bool) -> float:
    """One rank's work: a few DDP steps and an evaluation with a metric reduced across the ranks."""
    if before:
        importlib.reload(importlib.import_module("torch.distributed.nn.functional"))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = idist.auto_model(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)))
    optimizer = idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.05))
    data = torch.utils.data.TensorDataset(torch.randn(64, 8), torch.randn(64, 1))
    loader = idist.auto_dataloader(data, batch_size=16, shuffle=True, seed=1)
    trainer = create_supervised_trainer(model, optimizer, torch.nn.functional.mse_loss)
    trainer.run(loader, max_epochs=2)
    evaluator = create_supervised_evaluator(model, metrics={"mse": MeanSquaredError()})
    return float(evaluator.run(loader).metrics["mse"])


def spawn_launches(count: int, before: bool) -> int:
    """``count`` Parallel launches; the number that had a rank die after returning its result."""
    aborted = 0
    for _ in range(count):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with idist.Parallel(backend="gloo", nproc_per_node=2, timeout=120) as parallel:
                parallel.run(job, before)
        aborted += any("while exiting" in str(warning.message) for warning in caught)
    return aborted


def torchrun_launches(count: int, before: bool) -> int:
    """``count`` torchrun launches of this script's ranks; the number that failed or printed the abort."""
    aborted = 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__]
    command += ["--rank-of-torchrun-job"] + (["--before"] if before else [])
    for _ in range(count):
        with tempfile.TemporaryFile() as output:
            done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, timeout=300, check=False)
            output.seek(0)
            text = output.read().decode(errors="replace")
        aborted += done.returncode != 0 or ABORT in text
    return aborted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawn", type=int, default=40, help="Parallel/spawn launches (default 40)")
    parser.add_argument("--torchrun", type=int, default=10, help="torchrun launches (default 10)")
    parser.add_argument("--before", action="store_true", help="reproduce the state before the fix")
    parser.add_argument("--rank-of-torchrun-job", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.rank_of_torchrun_job:
        with idist.Parallel(backend="gloo", timeout=120) as parallel:
            parallel.run(job, options.before)
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.monotonic()
    spawned = spawn_launches(options.spawn, options.before)
    torchrun = torchrun_launches(options.torchrun, options.before)
    label = "before the fix (group kept by torch.distributed.nn.functional)" if options.before else "ember as it is"
    print(f"two-process launches that aborted at exit, {label}:")
    print(f"  Parallel/spawn  {spawned:3d} of {options.spawn}")
    print(f"  torchrun        {torchrun:3d} of {options.torchrun}")
    print(f"  total           {spawned + torchrun:3d} of {options.spawn + options.torchrun}")
    print(f"  ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
