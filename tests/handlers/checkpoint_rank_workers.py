"""Functions run in spawned processes by the distributed checkpoint tests (importable by name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ember import Engine, Events, distributed
from ember.handlers import Checkpoint, DiskSaver, resume_from_latest


class CountingState:
    """An object whose state_dict() counts its calls (a metric's could hold a collective)."""

    def __init__(self) -> None:
        self.calls = 0

    def state_dict(self) -> dict[str, int]:
        self.calls += 1
        return {"calls": self.calls}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.calls = state_dict["calls"]


def save_on_every_rank(local_rank: int, folder: str) -> dict[str, object]:
    """Every rank runs the same checkpointed loop with its own weights; report what is on disk afterwards."""
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(float(distributed.get_rank() + 1))
    trainer = Engine(lambda engine, batch: None)
    counter = CountingState()
    # scores fall after the first save, so rank 0 declines the later ones: state_dict() runs on all ranks anyway
    scores = iter([3.0, 2.0, 1.0])
    checkpoint = Checkpoint(
        {"model": model, "counter": counter},
        DiskSaver(folder, require_empty=False),
        score_function=lambda engine: next(scores),
        score_name="score",
        n_saved=1,
        global_step_transform=lambda engine, event: engine.state.iteration,
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    trainer.run(range(3), max_epochs=1)
    distributed.barrier()
    files = sorted(p.name for p in Path(folder).glob("*.pt"))
    last = checkpoint.last_checkpoint
    return {
        "rank": distributed.get_rank(),
        "files": files,
        "state_dict_calls": counter.calls,
        "last": Path(last).name if last is not None else None,
    }


def build_ddp_run(folder: str) -> tuple[Engine, torch.nn.Module, dict[str, Any], list[Any]]:
    """A DDP model trained on each rank's own batches, checkpointed every epoch into ``folder``."""
    torch.manual_seed(0)  # the same initial weights on both ranks (DDP also broadcasts rank 0's)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(100 + distributed.get_rank())
    batches = [(torch.randn(4, 2, generator=generator), torch.randn(4, 1, generator=generator)) for _ in range(2)]

    def step(engine: Engine, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        features, target = batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    trainer = Engine(step)
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer}
    checkpoint = Checkpoint(to_save, DiskSaver(folder, require_empty=False), n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    return trainer, model, to_save, batches


def ddp_save_then_resume_on_own_disks(local_rank: int, root: str) -> dict[str, Any]:
    """Train 2 epochs into rank 0's folder; then each rank resumes from its own folder (rank 1's is empty).

    Returns what each rank saw: the files written, the resumed position and the final weights after
    running on to epoch 4, and the weights of an uninterrupted 4-epoch run for comparison.
    """
    rank = distributed.get_rank()
    shared = Path(root) / "node0"  # only rank 0's node has the files: each node has its own disk
    trainer, model, _, batches = build_ddp_run(str(shared))
    trainer.run(batches, max_epochs=2)
    distributed.barrier()
    written = sorted(p.name for p in shared.glob("*.pt")) if rank == 0 else []
    own_folder = shared if rank == 0 else Path(root) / f"node{rank}"
    own_folder.mkdir(exist_ok=True)
    # a new process would build everything afresh: so do we, then resume from this rank's own disk
    trainer, model, to_save, batches = build_ddp_run(str(Path(root) / f"again{rank}"))
    resumed = resume_from_latest(to_save, own_folder)
    position = (trainer.state.iteration, trainer.state.epoch)
    trainer.run(batches, max_epochs=4)
    resumed_weights = model.module.weight.detach().clone()
    trainer, model, _, batches = build_ddp_run(str(Path(root) / f"reference{rank}"))
    trainer.run(batches, max_epochs=4)
    return {
        "written": written,
        "resumed": resumed.name if resumed is not None else None,
        "position": position,
        "resumed_weights": resumed_weights,
        "reference_weights": model.module.weight.detach().clone(),
        "loaded_from_rank_0": load_objects_on_own_disks(local_rank, root),
    }


def load_objects_on_own_disks(local_rank: int, root: str) -> list[float]:
    """Checkpoint.load_objects with a path that exists on rank 0 only: every rank gets rank 0's weights."""
    path = Path(root) / f"rank{distributed.get_rank()}" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    if distributed.get_rank() == 0:
        DiskSaver(path.parent, require_empty=False)(
            {"weight": torch.full((1, 2), 7.0), "bias": torch.ones(1)}, "model.pt"
        )
    distributed.barrier()
    model = torch.nn.Linear(2, 1)
    Checkpoint.load_objects({"model": model}, path)
    return model.weight.detach().flatten().tolist()
