"""Code run in each process of the FSDP / sharded-checkpoint tests (importable, so spawned processes can load it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ember import Engine, Events, distributed
from ember.distributed.auto import auto_model
from ember.distributed.sharding import gradient_sync, is_sharded
from ember.engine import create_supervised_evaluator, create_supervised_trainer
from ember.handlers import Checkpoint, EarlyStopping, RNGStates
from ember.handlers.sharded_checkpoint import ShardedSaver, load_sharded_checkpoint, resume_from_latest_sharded
from ember.metrics import Loss

GLOBAL_BATCH = 16
SAMPLES = 64


def make_model(width: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3))


def batches(rank: int, world_size: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Global batches of GLOBAL_BATCH rows; rank r of world_size takes the r-th contiguous slice of each."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, 8, generator=generator)
    y = torch.randint(0, 3, (SAMPLES,), generator=generator)
    share = GLOBAL_BATCH // world_size
    out = []
    for start in range(0, SAMPLES, GLOBAL_BATCH):
        lo = start + rank * share
        out.append((x[lo : lo + share], y[lo : lo + share]))
    return out


def full_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole (unsharded) weights on every rank, as plain CPU tensors."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if not is_sharded(model):
        return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def train(local_rank: int, world_size: int) -> dict[str, Any]:
    """Supervised trainer + evaluator metric + accumulation (2) + clipping + EarlyStopping(restore_best) on FSDP."""
    rank = distributed.get_rank()
    model = auto_model(make_model(), strategy="fsdp") if world_size > 1 else make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    steps = 2
    trainer = create_supervised_trainer(
        model, optimizer, nn.CrossEntropyLoss(), gradient_accumulation_steps=steps, clip_grad_norm=0.5
    )

    @trainer.on(Events.ITERATION_STARTED)
    def sync_only_when_stepping(engine: Engine) -> None:
        # the reduction across ranks runs only in the backward of the batch that completes an accumulation
        gradient_sync(model, engine.state.iteration % steps == 0)

    evaluator = create_supervised_evaluator(model, metrics={"loss": Loss(nn.CrossEntropyLoss())})
    validation = batches(rank, world_size, seed=2)
    epoch_weights: list[dict[str, torch.Tensor]] = []
    losses: list[float] = []

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        evaluator.run(validation)
        losses.append(float(evaluator.state.metrics["loss"]))
        epoch_weights.append(full_weights(model))

    # the best "score" is at epoch 2 of 3, whatever the losses, so restore_best has something to restore
    stopper = EarlyStopping(
        patience=5, score_function=lambda _: -abs(trainer.state.epoch - 2), trainer=trainer, restore_best=model
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
    trainer.run(batches(rank, world_size), max_epochs=3)
    return {
        "final": full_weights(model),
        "epoch_weights": epoch_weights,
        "losses": losses,
        "sharded": is_sharded(model),
        "local_rows": next(model.parameters()).to_local().shape[0] if is_sharded(model) else None,
    }


def _training_objects(world_size: int, folder: str | None, async_save: bool, n_saved: int | None) -> dict[str, Any]:
    model = auto_model(make_model(), strategy="fsdp") if world_size > 1 else make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "rng": RNGStates()}
    objects: dict[str, Any] = {"model": model, "optimizer": optimizer, "trainer": trainer, "to_save": to_save}
    if folder is not None:
        saver = ShardedSaver(folder, async_save=async_save, require_empty=False)
        checkpoint = Checkpoint(to_save, saver, n_saved=n_saved)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
        objects["checkpoint"] = checkpoint
    return objects


def resume(local_rank: int, folder: str, from_one_rank: str | None) -> dict[str, Any]:
    """Uninterrupted vs interrupted-at-5-then-resumed runs, sync and async; plus a load of a 1-rank checkpoint."""
    world_size = distributed.get_world_size()
    rank = distributed.get_rank()
    data = batches(rank, world_size)
    result: dict[str, Any] = {}
    plain = _training_objects(world_size, None, False, None)
    plain["trainer"].run(data, max_epochs=2)
    result["uninterrupted"] = full_weights(plain["model"])
    for mode in ("sync", "async"):
        where = os.path.join(folder, mode)
        first = _training_objects(world_size, where, mode == "async", 2)
        first["trainer"].add_event_handler(Events.ITERATION_COMPLETED(once=5), lambda engine: engine.interrupt())
        first["trainer"].run(data, max_epochs=2)
        first["checkpoint"].wait()
        result[f"{mode}_at_5"] = full_weights(first["model"])
        # training goes on after the save: the checkpoint must hold the weights of iteration 5, not later ones
        with torch.no_grad():
            for parameter in first["model"].parameters():
                parameter.add_(1.0)
        second = _training_objects(world_size, where, mode == "async", 2)
        found = resume_from_latest_sharded(second["to_save"], where)
        result[f"{mode}_resumed_from"] = None if found is None else found.name
        result[f"{mode}_loaded"] = full_weights(second["model"])
        second["trainer"].run(data, max_epochs=2)
        second["checkpoint"].wait()
        result[f"{mode}_resumed"] = full_weights(second["model"])
        result[f"{mode}_folders"] = sorted(os.listdir(where))
    if from_one_rank is not None:
        other = _training_objects(world_size, None, False, None)
        found = resume_from_latest_sharded(other["to_save"], from_one_rank)
        result["from_one_rank"] = None if found is None else found.name
        result["from_one_rank_weights"] = full_weights(other["model"])
        result["from_one_rank_iteration"] = other["trainer"].state.iteration
    return result


def save_until_killed(local_rank: int, folder: str, async_save: bool, width: int) -> None:
    """Save a sharded checkpoint after every iteration, forever; the test kills a rank for real."""
    Path(folder, f"pid{distributed.get_rank()}").write_text(str(os.getpid()))
    model = auto_model(make_model(width), strategy="fsdp")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer}
    checkpoint = Checkpoint(to_save, ShardedSaver(folder, async_save=async_save), n_saved=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    trainer.run(batches(distributed.get_rank(), 2), max_epochs=10_000)


def load_into_other_shapes(local_rank: int, folder: str) -> dict[str, Any]:
    """Save a sharded checkpoint of a width-16 model, then load it into a width-32 one (same keys, other shapes)."""
    world_size = distributed.get_world_size()
    objects = _training_objects(world_size, folder, False, None)
    objects["checkpoint"](objects["trainer"])
    wider = auto_model(make_model(width=32), strategy="fsdp") if world_size > 1 else make_model(width=32)
    outcome: dict[str, Any] = {}
    for strict in (True, False):
        try:
            load_sharded_checkpoint({"model": wider}, os.path.join(folder, "checkpoint_0"), strict=strict)
        except BaseException as error:  # torch's CheckpointException is a BaseException: report what arrived
            outcome[f"strict={strict}"] = {"type": type(error).__name__, "message": str(error)}
        else:
            outcome[f"strict={strict}"] = None
    # the ranks are still in step: a collective reached by both completes
    outcome["after"] = distributed.all_reduce(distributed.get_rank() + 1)
    return outcome


def save_when_rank_zero_cannot(local_rank: int, folder: str) -> dict[str, Any]:
    """A save whose folder rank 0 cannot create (a file holds its temporary name): what each rank raises."""
    world_size = distributed.get_world_size()
    objects = _training_objects(world_size, folder, False, None)
    if distributed.get_rank() == 0:
        Path(folder, ".checkpoint_0.partial").write_text("in the way")
    distributed.barrier()
    try:
        objects["checkpoint"](objects["trainer"])
    except Exception as error:
        outcome: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    else:
        outcome = {"type": None}
    outcome["after"] = distributed.all_reduce(distributed.get_rank() + 1)
    return outcome


if __name__ == "__main__":
    # python sharded_workers.py FOLDER sync|async WIDTH: the program the kill test starts and kills
    target, mode, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
    distributed.spawn(save_until_killed, nprocs=2, args=(target, mode == "async", width))
