"""EMAHandler against pytorch-ignite 0.5.5's, run in the same test: the same training, the same averaged weights.

A small model with batch norm (float buffers and an integer counter) trains with SGD over a real
DataLoader on both libraries from the same seed; the averaged model's state dict, its mode and the
momentum seen at every iteration must be equal, bit for bit.
"""

from __future__ import annotations

import warnings
from typing import Any

import ignite.engine
import ignite.handlers
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import ember.engine
import ember.handlers
from ember.handlers.ema_handler import EMAHandler


def train_with_ema(library: Any, ema_kwargs: dict[str, Any], every: int, name: str = "ema_momentum") -> dict[str, Any]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = TensorDataset(torch.randn(24, 3), torch.randn(24, 1))
    loader = DataLoader(data, batch_size=6, shuffle=True, generator=torch.Generator().manual_seed(1))

    def step(engine: Any, batch: Any) -> float:
        model.train()
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(batch[0]), batch[1])
        loss.backward()
        optimizer.step()
        return loss.item()

    trainer = library.engine.Engine(step)
    handler = library.handlers.EMAHandler(model, **ema_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        handler.attach(trainer, name=name, event=library.engine.Events.ITERATION_COMPLETED(every=every))
    momenta: list[Any] = []
    trainer.add_event_handler(
        library.engine.Events.ITERATION_COMPLETED, lambda engine: momenta.append(getattr(engine.state, name))
    )
    trainer.run(loader, max_epochs=3)
    return {
        "ema": {key: value.clone() for key, value in handler.ema_model.state_dict().items()},
        "training": handler.ema_model.training,
        "momenta": momenta,
        "requires_grad": [p.requires_grad for p in handler.ema_model.parameters()],
    }


CASES = [
    {"momentum": 0.3},
    {"momentum": 0.3, "handle_buffers": "update"},
    {"momentum": 0.3, "handle_buffers": "ema_train"},
    {"momentum": 0.01, "momentum_warmup": 0.5, "warmup_iters": 5},
    {"momentum": 0.6, "momentum_warmup": 0.1, "warmup_iters": 4, "handle_buffers": "update"},
    {"momentum": 0.2, "momentum_warmup": 0.05, "warmup_iters": 1},
]


@pytest.mark.parametrize("ema_kwargs", CASES)
@pytest.mark.parametrize("every", [1, 3])
def test_ema_model_equals_ignites(ema_kwargs: dict[str, Any], every: int) -> None:
    expected = train_with_ema(ignite, ema_kwargs, every)
    got = train_with_ema(ember, ema_kwargs, every)
    assert got["momenta"] == expected["momenta"]
    assert got["training"] == expected["training"]
    assert got["requires_grad"] == expected["requires_grad"]
    assert list(got["ema"]) == list(expected["ema"])
    for key, value in expected["ema"].items():
        assert torch.equal(got["ema"][key], value), key


def test_a_warmup_under_another_name_drives_that_name() -> None:
    """ignite's warm-up always writes ``ema_momentum``, so under another name it averages at the constant momentum;
    ember warms up the momentum it reads (docs/migration.md)."""
    kwargs = {"momentum": 0.05, "momentum_warmup": 0.5, "warmup_iters": 6}
    ignite_run = train_with_ema(ignite, kwargs, 1, name="gen_momentum")
    ember_run = train_with_ema(ember, kwargs, 1, name="gen_momentum")
    assert set(ignite_run["momenta"]) == {0.05}
    assert ember_run["momenta"][:6] == pytest.approx([0.5, 0.41, 0.32, 0.23, 0.14, 0.05])
    assert ember_run["momenta"] == train_with_ema(ember, kwargs, 1)["momenta"]


def test_ddp_and_dataparallel_wrappers_as_ignite() -> None:
    model = nn.DataParallel(nn.Linear(2, 2))
    assert isinstance(EMAHandler(model).ema_model, nn.DataParallel)
    assert isinstance(ignite.handlers.EMAHandler(model).ema_model, nn.DataParallel)


def test_attach_warns_on_an_existing_attribute_unless_told_not_to() -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    trainer.state.ema_momentum = 0.1
    with pytest.warns(UserWarning, match="already has 'ema_momentum'"):
        EMAHandler(nn.Linear(1, 1)).attach(trainer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EMAHandler(nn.Linear(1, 1)).attach(trainer, name="ema_momentum", warn_if_exists=False)
    assert trainer.state.ema_momentum == 0.1  # a resumed value is kept


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"momentum": 0.0}, ValueError, r"momentum must be in \(0, 1\)"),
        ({"momentum": 1.5}, ValueError, r"momentum must be in \(0, 1\)"),
        ({"momentum": "0.1"}, TypeError, "momentum must be a number"),
        ({"momentum_warmup": 0.1}, ValueError, "needs both"),
        ({"warmup_iters": 10}, ValueError, "needs both"),
        ({"momentum_warmup": 0.1, "warmup_iters": 0}, ValueError, "warmup_iters must be"),
        ({"momentum_warmup": 2.0, "warmup_iters": 3}, ValueError, "momentum_warmup must be in"),
        ({"handle_buffers": "average"}, ValueError, "handle_buffers must be one of"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        EMAHandler(nn.Linear(1, 1), **kwargs)


def test_bad_model_and_attach_are_refused() -> None:
    with pytest.raises(TypeError, match="model must be a torch"):
        EMAHandler(lambda x: x)  # type: ignore[arg-type]
    handler = EMAHandler(nn.Linear(1, 1))
    trainer = ember.engine.Engine(lambda engine, batch: None)
    with pytest.raises(ValueError, match="attribute name"):
        handler.attach(trainer, name="ema momentum")
    handler.attach(trainer)
    with pytest.raises(RuntimeError, match="already attached"):
        handler.attach(trainer, name="other")
    with pytest.raises(TypeError, match="expects an ember Engine"):
        EMAHandler(nn.Linear(1, 1)).attach(ignite.engine.Engine(lambda engine, batch: None))  # type: ignore[arg-type]
