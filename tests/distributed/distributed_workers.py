"""Code run in each process of the 2-process distributed tests (importable, so spawned processes can load it)."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch

import ember.distributed as idist
from ember import Engine, Events
from ember.engine import create_supervised_trainer
from ember.handlers import Checkpoint, EventsDivergedError, EventSyncCheck, PreemptionHandler

# --------------------------------------------------------------------------- collectives and topology


def collectives(local_rank: int, offset: int) -> dict[str, Any]:
    """Exercise every collective on a rank; rank r holds r + 1 rows (uneven shards)."""
    rank = idist.get_rank()
    rows = torch.arange((rank + 1) * 2, dtype=torch.float32).reshape(rank + 1, 2) + 10 * rank
    value = torch.tensor([rank + offset, 10 - rank])
    reduced = {op: idist.all_reduce(value, op=op).tolist() for op in ("SUM", "PRODUCT", "MIN", "MAX", "sum")}
    idist.barrier()
    try:
        idist.all_gather(torch.zeros(2, 2 + rank))
    except ValueError as error:
        mismatched = str(error)
    pair = idist.new_group([0, 1])
    alone = idist.new_group([1])  # every rank calls new_group, members or not

    @idist.one_rank_only(rank=1, with_barrier=True)
    def only_on_one() -> str:
        return "ran"

    first: list[str] = []
    with idist.one_rank_first(rank=0):
        first.append(f"rank {rank} done")
    return {
        "mismatched_gather": mismatched,
        "topology": [
            idist.get_rank(),
            idist.get_local_rank(),
            idist.get_world_size(),
            idist.get_nproc_per_node(),
            idist.get_nnodes(),
            idist.get_node_rank(),
            local_rank,
        ],
        "names": [
            str(idist.device()),
            idist.backend(),
            idist.get_backend(),
            idist.model_name(),
            idist.is_distributed(),
        ],
        "reduced": reduced,
        "mean": idist.all_reduce(torch.tensor([rank + 1.0, 4.0]), op="MEAN").tolist(),
        "mean_int": idist.all_reduce(rank + 2, op="MEAN"),
        "number_sum": idist.all_reduce(rank + 1),
        "number_max": idist.all_reduce(rank + 0.5, op="MAX"),
        "input_after": value.tolist(),
        "bool_max": idist.all_reduce(torch.tensor([rank == 1]), op="MAX").tolist(),
        "gathered": idist.all_gather(rows).tolist(),
        "gathered_scalar": idist.all_gather(torch.tensor(rank * 3)).tolist(),
        "gathered_empty": idist.all_gather(torch.zeros(rank, 2)).shape[0],
        "gathered_numbers": idist.all_gather(rank + 0.5),
        "gathered_strings": idist.all_gather("ab" * (rank + 1)),
        "gathered_objects": idist.all_gather({"rank": rank}),
        "group_sum": idist.all_reduce(torch.tensor([1.0]), group=pair).tolist(),
        "group_list_sum": idist.all_reduce(2, group=[0, 1]),
        "alone_sum": idist.all_reduce(torch.tensor([rank + 5]), group=alone).tolist(),
        "broadcast_tensor": idist.broadcast(torch.tensor([rank + 0.5, 7.0]), src=1).tolist(),
        "broadcast_safe": idist.broadcast(
            torch.tensor([1.5, 2.5]) if rank == 0 else None, src=0, safe_mode=True
        ).tolist(),
        "broadcast_number": idist.broadcast(rank + 10, src=1),
        "broadcast_string": idist.broadcast(f"from {rank}", src=0),
        "broadcast_object": idist.broadcast({"from": rank, "items": [rank]}, src=1),
        "broadcast_object_old": idist.broadcast_object({"from": rank}, src=0),
        "one_rank_only": only_on_one(),
        "one_rank_first": first,
        "ddp_kwargs_without_gpu": type(idist.auto_model(torch.nn.Linear(2, 1))).__name__,
        "sync_bn_on_cpu": sync_bn_on_cpu(),
    }


def sync_bn_on_cpu() -> str:
    try:
        idist.auto_model(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)), sync_bn=True)
    except ValueError as error:
        return str(error)
    return "no error"


def fails_on_rank(local_rank: int, failing: int) -> None:
    """Rank `failing` raises while the other waits in a collective (which then loses its peer)."""
    if idist.get_rank() == failing:
        raise KeyError(f"rank {failing} broke")
    idist.all_reduce(torch.ones(1))
    idist.barrier()


def dies_without_a_word(local_rank: int, dying: int, how: str) -> None:
    """Rank `dying` ends without an exception (os._exit, SIGKILL, segfault) while its peer waits in a collective."""
    idist.barrier()
    if idist.get_rank() == dying:
        if how == "exit":
            os._exit(3)
        elif how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            ctypes.string_at(0)  # reads address 0: SIGSEGV
    idist.all_reduce(torch.ones(1))
    idist.barrier()


def stuck_in_user_code(local_rank: int, stuck: int) -> None:
    """Rank `stuck` never reaches the barrier (a loop in user code); the others wait in it."""
    if idist.get_rank() == stuck:
        while True:
            time.sleep(0.1)
    idist.barrier()


def gathers_a_tensor_and_an_object(local_rank: int) -> str:
    """Rank 0 gathers a tensor, rank 1 a Python number: the same ValueError on both, no hang."""
    try:
        idist.all_gather(torch.ones(2) if idist.get_rank() == 0 else 5)
    except ValueError as error:
        return str(error)
    return "no error"


def gathers_mismatched_tensors(local_rank: int) -> list[str]:
    """Ranks gather tensors of other dtypes, then of other trailing shapes: every rank gets each error."""
    messages = []
    rank = idist.get_rank()
    for tensor in (torch.ones(2, dtype=torch.float32 if rank == 0 else torch.int64), torch.zeros(1, 2 + rank)):
        try:
            idist.all_gather(tensor)
        except ValueError as error:
            messages.append(str(error))
    messages.append(str(idist.all_gather(rank)))  # the group still works afterwards
    return messages


def group_timeout(local_rank: int) -> float:
    """The timeout, in seconds, of this rank's default process group (what bounds every collective)."""
    import torch.distributed as dist

    backend = dist.group.WORLD._get_backend(torch.device("cpu"))
    return float(backend.options._timeout.total_seconds())


def ddp_step() -> str:
    model = idist.auto_model(torch.nn.Linear(2, 1))
    model(torch.ones(3, 2)).sum().backward()
    idist.barrier()
    return type(model).__name__


def native_threads_after_finalize(local_rank: int) -> dict[str, Any]:
    """A DDP step, then leave the group (the model gone, as after a training function): the native threads left."""
    import inspect

    import torch.distributed.nn.functional

    model = ddp_step()
    default = inspect.signature(torch.distributed.nn.functional.broadcast).parameters["group"].default
    idist.finalize()
    names = sorted(Path(f"/proc/self/task/{task}/comm").read_text().strip() for task in os.listdir("/proc/self/task"))
    return {"threads": names, "default_group": repr(default), "model": model}


def returns_a_closure(local_rank: int) -> Any:
    """Returns a function defined inside this one: it cannot be pickled back to the launcher."""
    factor = local_rank + 1

    def scale(value: float) -> float:
        return value * factor

    return scale


def mismatched_reduce(local_rank: int) -> None:
    """Ranks pass tensors of different sizes to one all_reduce: gloo aborts them."""
    idist.all_reduce(torch.ones(1 + idist.get_rank()))


# --------------------------------------------------------------------------- training


class LoggedData(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A small regression set that records which indices this process loaded."""

    def __init__(self, size: int) -> None:
        generator = torch.Generator().manual_seed(3)
        self.x = torch.randn(size, 4, generator=generator, dtype=torch.float64)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]], dtype=torch.float64) + 0.1
        self.loaded: list[int] = []

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.loaded.append(index)
        return self.x[index], self.y[index]


def build_training(size: int, global_batch: int) -> tuple[Engine, torch.nn.Module, Any, LoggedData, Any]:
    torch.manual_seed(0)
    raw_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    model = idist.auto_model(raw_model)
    optimizer = idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    data = LoggedData(size)
    loader = idist.auto_dataloader(data, batch_size=global_batch, shuffle=True, seed=5)
    trainer = create_supervised_trainer(model, optimizer, torch.nn.functional.mse_loss)
    return trainer, raw_model, loader, data, optimizer


def weights(model: torch.nn.Module) -> dict[str, list[float]]:
    return {name: value.flatten().tolist() for name, value in model.state_dict().items()}


def train(local_rank: int, size: int, global_batch: int, epochs: int) -> dict[str, Any]:
    """Train, and return the final weights and the indices this process loaded in each epoch."""
    trainer, raw_model, loader, data, _ = build_training(size, global_batch)
    per_epoch: list[list[int]] = []

    @trainer.on(Events.EPOCH_COMPLETED)
    def record(engine: Engine) -> None:
        per_epoch.append(list(data.loaded))
        data.loaded.clear()

    trainer.run(loader, max_epochs=epochs)
    return {
        "weights": weights(raw_model),
        "per_epoch": per_epoch,
        "loader": [type(loader).__name__, loader.batch_size, len(loader)],
        "evaluation": evaluate(raw_model, size=21),
    }


def evaluate(model: torch.nn.Module, size: int) -> dict[str, float]:
    """Metrics over `size` samples, sharded unevenly (every sample once) when there are several ranks."""
    from ember.engine import create_supervised_evaluator
    from ember.metrics import Loss, MeanAbsoluteError, MeanSquaredError

    data = LoggedData(size)
    data.y = data.y + torch.linspace(-1, 1, size, dtype=torch.float64).unsqueeze(1)  # a model with errors to measure
    loader = idist.auto_dataloader(data, batch_size=4, shuffle=False, even_shards=False)
    metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "loss": Loss(torch.nn.functional.mse_loss)}
    evaluator = create_supervised_evaluator(model, metrics=metrics)
    state = evaluator.run(loader)
    return {name: float(value) for name, value in state.metrics.items()} | {"loaded": len(data.loaded)}


def train_with_resume(local_rank: int, size: int, global_batch: int, epochs: int, stop_at: int) -> dict[str, Any]:
    """Stop after `stop_at` iterations, keep the state in memory, resume in fresh objects, train to the end."""
    first, raw_model, loader, data, optimizer = build_training(size, global_batch)
    saved: dict[str, Any] = {}

    @first.on(Events.ITERATION_COMPLETED(once=stop_at))
    def stop(engine: Engine) -> None:
        saved.update(
            model={k: v.clone() for k, v in raw_model.state_dict().items()},
            optimizer=optimizer.state_dict(),
            trainer=engine.state_dict(),
            loader=loader.state_dict(),
        )
        engine.terminate()

    first.run(loader, max_epochs=epochs)
    before = list(data.loaded)
    torch.manual_seed(1234)  # a "new process": the global generator is elsewhere
    second, raw_again, loader_again, data_again, optimizer_again = build_training(size, global_batch)
    raw_again.load_state_dict(saved["model"])
    optimizer_again.load_state_dict(saved["optimizer"])
    second.load_state_dict(saved["trainer"])
    loader_again.load_state_dict(saved["loader"])
    second.run(loader_again, max_epochs=epochs)
    return {"weights": weights(raw_again), "loaded": before + data_again.loaded}


# --------------------------------------------------------------------------- one decision on all ranks


def preempted_at_different_iterations(local_rank: int, folder: str, signal_at: list[int]) -> dict[str, Any]:
    """Each rank sends itself SIGTERM at its own iteration; a per-iteration collective would hang on divergence."""
    rank = idist.get_rank()

    def step(engine: Engine, batch: int) -> float:
        return float(idist.all_reduce(torch.tensor([float(batch)])).item())  # as DDP would, every iteration

    trainer = Engine(step)
    handler = PreemptionHandler(Checkpoint({"trainer": trainer}, folder, n_saved=None), exit_code=None)
    handler.attach(trainer)
    trainer.add_event_handler(
        Events.ITERATION_STARTED(once=signal_at[rank]), lambda: os.kill(os.getpid(), signal.SIGTERM)
    )
    state = trainer.run(range(20), max_epochs=1)
    outcome = {"iteration": state.iteration, "preempted": handler.preempted, "files": sorted(os.listdir(folder))}
    idist.barrier()
    # continued: now only rank 1's signal (at 6) is pending, and it stops both ranks again
    again = trainer.run(range(20), max_epochs=1)
    outcome["second_stop"] = [again.iteration, handler.preempted]
    idist.barrier()
    outcome["files_after"] = sorted(os.listdir(folder))
    outcome["continued_to"] = trainer.run(range(20), max_epochs=1).iteration
    return outcome


def diverging_engines(local_rank: int) -> str:
    """Rank 1 stops after 2 iterations, rank 0 runs on: EventSyncCheck reports it on both ranks."""
    trainer = Engine(lambda engine, batch: batch)
    EventSyncCheck().attach(trainer)
    if idist.get_rank() == 1:
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda engine: engine.terminate())
    try:
        trainer.run(range(5), max_epochs=1)
    except EventsDivergedError as error:
        return str(error)
    return "no error"


def same_events(local_rank: int) -> int:
    trainer = Engine(lambda engine, batch: batch)
    check = EventSyncCheck()
    check.attach(trainer)
    trainer.run(range(4), max_epochs=2)
    return check.checks


def written_files(folder: str) -> list[str]:
    return sorted(path.name for path in Path(folder).iterdir())


def exits_with(local_rank: int, status: int) -> None:
    """Every rank leaves with `status` after a collective, as a preempted run does."""
    idist.barrier()
    raise SystemExit(status)
