"""FastaiLRFinder against pytorch-ignite 0.5.5's, run in the same test on the same training program.

Both libraries run the same search (a real DataLoader, SGD with momentum, one or two param groups) from
the same seed; the recorded rates and losses, the iterations that ran, the suggestion, the plotted curve,
and the model/optimizer/trainer state after the ``with`` block (put back as before) must be equal; a
training run after the search must give the same weights.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import ignite.contrib.handlers.lr_finder
import ignite.engine
import ignite.handlers
import matplotlib
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import ember.contrib.handlers.lr_finder
import ember.engine
import ember.handlers
from ember.handlers.lr_finder import FastaiLRFinder

matplotlib.use("Agg")


def search(library: Any, groups: int = 1, run_kwargs: dict[str, Any] | None = None, **attach: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    params: Any = model.parameters()
    if groups == 2:
        params = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 2e-4}]
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    data = TensorDataset(torch.randn(64, 5), torch.randn(64, 1))
    loader = DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3))

    def step(engine: Any, batch: Any) -> Any:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    trainer = library.engine.Engine(step)
    iterations: list[int] = []
    trainer.add_event_handler(library.engine.Events.ITERATION_COMPLETED, lambda e: iterations.append(e.state.iteration))
    before = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    finder = library.handlers.FastaiLRFinder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with finder.attach(trainer, {"model": model, "optimizer": optimizer}, lambda out: out["loss"], **attach) as run:
            run.run(loader, **(run_kwargs or {"max_epochs": 2}))
    after = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    try:
        suggestion = finder.lr_suggestion()
    except RuntimeError as error:
        suggestion = type(error)
    if suggestion is not RuntimeError:
        ax = finder.plot(skip_start=2, skip_end=1)
        curve = ax.lines[0].get_xydata().tolist()
        finder.apply_suggested_lr(optimizer)
    else:
        curve = None
    trainer.run(loader, max_epochs=1)  # the real training, from the restored state
    return {
        "results": finder.get_results(),
        "iterations": iterations,
        "suggestion": suggestion,
        "curve": curve,
        "restored": (before, after),
        "trained": model.state_dict(),
        "warned": sorted({type(w.message).__name__ for w in caught if "diverg" in str(w.message)}),
    }


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["results"] == expected["results"]
    assert got["iterations"] == expected["iterations"]
    assert got["suggestion"] == expected["suggestion"]
    assert got["curve"] == expected["curve"]
    assert got["warned"] == expected["warned"]
    (model_before, optimizer_before), (model_after, optimizer_after) = got["restored"]
    for key, value in model_before.items():
        assert torch.equal(model_after[key], value)
    assert optimizer_after["param_groups"] == optimizer_before["param_groups"]
    assert optimizer_after["state"].keys() == optimizer_before["state"].keys()
    for key, value in got["trained"].items():
        assert torch.equal(value, expected["trained"][key]), key


CASES: list[dict[str, Any]] = [
    {},
    {"step_mode": "linear", "end_lr": 0.5},
    {"num_iter": 10},
    {"num_iter": 40, "start_lr": 1e-5, "end_lr": 1.0},
    {"smooth_f": 0.0, "diverge_th": 1.5},
    {"end_lr": 1e-3, "diverge_th": 50.0},  # never diverges: a warning on both
]


@pytest.mark.parametrize("attach", CASES)
def test_search_equals_ignites(attach: dict[str, Any]) -> None:
    assert_same(search(ember, **attach), search(ignite, **attach))


@pytest.mark.parametrize("attach", [{}, {"step_mode": "linear", "start_lr": [1e-5, 2e-5], "end_lr": [1.0, 3.0]}])
def test_search_with_two_param_groups_equals_ignites(attach: dict[str, Any]) -> None:
    assert_same(search(ember, groups=2, **attach), search(ignite, groups=2, **attach))


def test_search_with_epoch_length_and_max_iters_equals_ignites() -> None:
    run_kwargs = {"max_epochs": 3, "epoch_length": 5}
    assert_same(search(ember, run_kwargs=run_kwargs), search(ignite, run_kwargs=run_kwargs))


def test_the_contrib_path_is_the_same_class() -> None:
    assert ember.contrib.handlers.lr_finder.FastaiLRFinder is FastaiLRFinder
    assert ember.handlers.FastaiLRFinder is FastaiLRFinder
    assert ignite.contrib.handlers.lr_finder.FastaiLRFinder is ignite.handlers.FastaiLRFinder


def test_no_results_yet_is_a_clear_error() -> None:
    finder = FastaiLRFinder()
    with pytest.raises(RuntimeError, match="no results to suggest from yet"):
        finder.lr_suggestion()
    with pytest.raises(RuntimeError, match="no results to plot yet"):
        finder.plot()


@pytest.mark.parametrize(
    ("to_save", "kwargs", "error", "message"),
    [
        ([1], {}, TypeError, "to_save must be a mapping"),
        ({"model": "m"}, {}, ValueError, "under the key 'optimizer'"),
        ({"optimizer": "sgd"}, {}, TypeError, "must be a torch.optim.Optimizer"),
        (None, {"smooth_f": 1.0}, ValueError, r"smooth_f must be in \[0, 1\)"),
        (None, {"diverge_th": 0.5}, ValueError, "diverge_th must be >= 1"),
        (None, {"step_mode": "cosine"}, ValueError, "step_mode must be"),
        (None, {"num_iter": 2.5}, TypeError, "num_iter must be a whole number"),
        (None, {"num_iter": 0}, ValueError, "num_iter must be positive"),
        (None, {"end_lr": 1e-5}, ValueError, "start_lr must be below end_lr"),
        (None, {"start_lr": [1e-5, 1e-4]}, ValueError, "start_lr has 2 values"),
        (None, {"end_lr": "big"}, TypeError, "end_lr must be a number"),
    ],
)
def test_bad_arguments_are_refused_before_the_run(
    to_save: Any, kwargs: dict[str, Any], error: type, message: str
) -> None:
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    trainer = ember.engine.Engine(lambda engine, batch: 0.0)
    objects = to_save if to_save is not None else {"optimizer": optimizer}
    with pytest.raises(error, match=message), FastaiLRFinder().attach(trainer, objects, **kwargs):
        pytest.fail("the with block must not be entered")


def test_a_loss_that_is_not_a_number_is_a_clear_error() -> None:
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    trainer = ember.engine.Engine(lambda engine, batch: {"loss": 1.0})
    finder = FastaiLRFinder()
    with (
        pytest.raises(TypeError, match="output_transform=lambda output: output"),
        finder.attach(trainer, {"optimizer": optimizer}) as run,
    ):
        run.run([0, 1])
    trainer = ember.engine.Engine(lambda engine, batch: torch.ones(3))
    with pytest.raises(ValueError, match="tensor of shape"), finder.attach(trainer, {"optimizer": optimizer}) as run:
        run.run([0, 1])
