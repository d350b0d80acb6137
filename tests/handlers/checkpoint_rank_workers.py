"""Functions run in spawned processes by the distributed checkpoint test (importable by name)."""

from __future__ import annotations

from pathlib import Path

import torch

from ember import Engine, Events, distributed
from ember.handlers import Checkpoint, DiskSaver


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
        n_saved=1,
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    trainer.run(range(3), max_epochs=1)
    distributed.barrier()
    files = sorted(p.name for p in Path(folder).glob("*.pt"))
    return {"rank": distributed.get_rank(), "files": files, "state_dict_calls": counter.calls}
