"""Writes the pytorch-ignite checkpoint that test_checkpoint_ignite.py loads into ember (run it with ignite).

    /path/to/venv-with-pytorch-ignite-0.5.5/bin/python tests/handlers/checkpoint_make_ignite_fixture.py

It trains a tiny model with ignite's Engine for 2 epochs of 3 iterations, saving
``{"trainer", "model", "optimizer"}`` with ignite's ``Checkpoint`` at every epoch (n_saved=1), then
trains the same model from the same start for 4 epochs without interruption and saves its final
weights. The files go to tests/handlers/data/ (about 3 KB): ``ignite_trainer_checkpoint_6.pt`` and
``ignite_reference_weights.pt``. The same ``build`` runs under ember in the test.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

DATA = Path(__file__).with_name("data")


def build(engine_class: Callable[..., Any]) -> tuple[Any, torch.nn.Module, torch.optim.Optimizer, list[Any]]:
    """The trainer, model, optimizer and data: deterministic, the same under ignite and ember."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    inputs = torch.linspace(-1.0, 1.0, 12).reshape(6, 2)
    targets = inputs.sum(dim=1, keepdim=True) * 0.5 + 0.25
    batches = [(inputs[i : i + 2], targets[i : i + 2]) for i in range(0, 6, 2)]

    def step(engine: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        features, target = batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return engine_class(step), model, optimizer, batches


def main() -> None:
    from ignite.engine import Engine, Events
    from ignite.handlers import Checkpoint, DiskSaver

    DATA.mkdir(exist_ok=True)
    trainer, model, optimizer, batches = build(Engine)
    with tempfile.TemporaryDirectory() as folder:
        to_save = {"trainer": trainer, "model": model, "optimizer": optimizer}
        trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint(to_save, DiskSaver(folder), n_saved=1))
        trainer.run(batches, max_epochs=2)
        shutil.copy(Path(folder) / "checkpoint_6.pt", DATA / "ignite_trainer_checkpoint_6.pt")
    trainer, model, optimizer, batches = build(Engine)
    trainer.run(batches, max_epochs=4)
    torch.save(model.state_dict(), DATA / "ignite_reference_weights.pt")


if __name__ == "__main__":
    main()
