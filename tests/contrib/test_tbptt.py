"""create_supervised_tbptt_trainer against ignite's, run in the same test: the same chunks, events, losses, weights."""

from __future__ import annotations

from typing import Any

import ignite.contrib.engines
import ignite.engine
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import ember.contrib.engines
import ember.contrib.engines.tbptt
import ember.engine


class Recurrent(torch.nn.Module):
    """A GRU with a linear head, called as ignite's trainer calls it: ``model(x)`` or ``model(x, hidden)``."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(3, 5, num_layers=2, batch_first=batch_first)
        self.head = torch.nn.Linear(5, 2)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out, hidden = self.rnn(x, hidden)
        return self.head(out), hidden


def train(library: Any, contrib: Any, tbtt_step: int, dim: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = Recurrent(batch_first=dim == 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    # sequences of 11 time steps, 4 per batch; the time dimension is `dim` of each batch
    x, y = torch.randn(12, 11, 3), torch.randn(12, 11, 2)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    if dim == 0:
        loader = [(bx.transpose(0, 1), by.transpose(0, 1)) for bx, by in loader]  # type: ignore[assignment]
    trainer = contrib.create_supervised_tbptt_trainer(
        model, optimizer, torch.nn.functional.mse_loss, tbtt_step=tbtt_step, dim=dim
    )
    seen: list[Any] = []
    events = contrib.Tbptt_Events
    trainer.add_event_handler(events.TIME_ITERATION_STARTED, lambda e: seen.append(("start", e.state.iteration)))
    trainer.add_event_handler(events.TIME_ITERATION_COMPLETED, lambda e: seen.append(("chunk", e.state.output)))
    trainer.add_event_handler(
        library.engine.Events.ITERATION_COMPLETED, lambda e: seen.append(("mean", e.state.output))
    )
    trainer.run(loader, max_epochs=2)
    return {"seen": seen, "weights": {key: value.clone() for key, value in model.state_dict().items()}}


@pytest.mark.parametrize(("tbtt_step", "dim"), [(4, 0), (3, 1), (11, 0), (20, 1)])
def test_tbptt_trainer_gives_ignites_weights(tbtt_step: int, dim: int) -> None:
    expected = train(ignite, ignite.contrib.engines, tbtt_step, dim)
    got = train(ember, ember.contrib.engines, tbtt_step, dim)
    assert got["seen"] == expected["seen"]
    assert got["weights"].keys() == expected["weights"].keys()
    for key, value in expected["weights"].items():
        assert torch.equal(got["weights"][key], value), key


def test_events_and_module_paths_are_ignites() -> None:
    assert [event.value for event in ember.contrib.engines.Tbptt_Events] == [
        event.value for event in ignite.contrib.engines.Tbptt_Events
    ]
    assert ember.contrib.engines.tbptt.Tbptt_Events is ember.contrib.engines.Tbptt_Events
    assert (
        ember.contrib.engines.tbptt.create_supervised_tbptt_trainer
        is ember.contrib.engines.create_supervised_tbptt_trainer
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "gru"}, TypeError, "model must be a torch.nn.Module"),
        ({"optimizer": None}, TypeError, "optimizer must be"),
        ({"loss_fn": 3}, TypeError, "loss_fn must be callable"),
        ({"tbtt_step": 0}, ValueError, "tbtt_step must be"),
        ({"dim": 0.5}, TypeError, "dim must be"),
        ({"prepare_batch": "x"}, TypeError, "prepare_batch must be callable"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any], error: type, message: str) -> None:
    model = Recurrent(batch_first=False)
    arguments: dict[str, Any] = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "loss_fn": torch.nn.functional.mse_loss,
        "tbtt_step": 2,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        ember.contrib.engines.create_supervised_tbptt_trainer(**arguments)
