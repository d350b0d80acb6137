"""ember.handlers.logger_utils against ignite.handlers.logger_utils: the same setup call logs the same values.

Both libraries train the same model (a real DataLoader, two optimizers, two evaluators with a metric)
with ``setup_tb_logging`` / ``setup_mlflow_logging`` writing to their own folders; what TensorBoard's
reader and MLflow's client read back (tags, steps, values) must be equal.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import ignite.engine
import ignite.handlers.logger_utils
import ignite.metrics
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset

import ember.engine
import ember.handlers.logger_utils
import ember.metrics


def program(library: Any, setup: Any, log_every_iters: int | None, **setup_kwargs: Any) -> Any:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizers = {
        "main": torch.optim.SGD(model.parameters(), lr=0.1),
        "other": torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5),
    }
    loader = DataLoader(TensorDataset(torch.randn(24, 3), torch.randn(24, 1)), batch_size=4)

    def step(engine: Any, batch: Any) -> float:
        optimizers["main"].zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        loss.backward()
        optimizers["main"].step()
        optimizers["other"].param_groups[0]["lr"] *= 0.9
        return loss.item()

    def evaluate(engine: Any, batch: Any) -> Any:
        with torch.no_grad():
            return model(batch[0]), batch[1]

    trainer = library.engine.Engine(step)
    library.metrics.RunningAverage(output_transform=lambda loss: loss).attach(trainer, "loss")
    evaluators = {"train_eval": library.engine.Engine(evaluate), "val": library.engine.Engine(evaluate)}
    for evaluator in evaluators.values():
        library.metrics.MeanSquaredError().attach(evaluator, "mse")
        library.metrics.MeanAbsoluteError().attach(evaluator, "mae")
    trainer.add_event_handler(
        library.engine.Events.EPOCH_COMPLETED, lambda: [e.run(loader) for e in evaluators.values()]
    )
    logger = setup(
        trainer=trainer,
        optimizers=optimizers,
        evaluators=evaluators,
        log_every_iters=log_every_iters,
        evaluator_metric_names=["mse"],
        **setup_kwargs,
    )
    trainer.run(loader, max_epochs=3)
    logger.close()
    return logger


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]
    }


@pytest.mark.parametrize("log_every_iters", [None, 4])
def test_setup_tb_logging_logs_ignites_scalars(tmp_path: Path, log_every_iters: int | None) -> None:
    for name, library, utils in (
        ("ignite", ignite, ignite.handlers.logger_utils),
        ("ember", ember, ember.handlers.logger_utils),
    ):
        program(library, utils.setup_tb_logging, log_every_iters, output_path=str(tmp_path / name))
    expected = tensorboard_scalars(tmp_path / "ignite")
    got = tensorboard_scalars(tmp_path / "ember")
    assert sorted(got) == sorted(expected)
    assert {"training/loss", "main/lr/group_0", "other/lr/group_0", "val/mse", "train_eval/mse"} <= set(got)
    for tag, values in expected.items():
        assert got[tag] == values, tag


def test_setup_mlflow_logging_logs_ignites_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    histories = {}
    for name, library, utils in (
        ("ignite", ignite, ignite.handlers.logger_utils),
        ("ember", ember, ember.handlers.logger_utils),
    ):
        uri = (tmp_path / name).as_uri()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program(library, utils.setup_mlflow_logging, 5, tracking_uri=uri)
            client = mlflow.tracking.MlflowClient(tracking_uri=uri)
            runs = [
                run
                for experiment in client.search_experiments()
                for run in client.search_runs([experiment.experiment_id])
            ]
        assert len(runs) == 1
        run = runs[0]
        histories[name] = {
            key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
        }
        mlflow.end_run()
    # ember's MLflow names keep the '/' that ignite's turn into spaces (docs/migration.md, "Loggers")
    ember_history = {key.replace("/", " "): values for key, values in histories["ember"].items()}
    assert ember_history.keys() == histories["ignite"].keys()
    assert {"training loss", "main lr group_0", "val mse"} <= set(ember_history)
    for key, values in histories["ignite"].items():
        assert sorted(ember_history[key]) == sorted(values), key


@pytest.mark.parametrize(
    ("function", "logger"),
    [
        ("setup_visdom_logging", "VisdomLogger"),
        ("setup_neptune_logging", "NeptuneLogger"),
        ("setup_wandb_logging", "WandBLogger"),
        ("setup_plx_logging", "PolyaxonLogger"),
        ("setup_clearml_logging", "ClearMLLogger"),
    ],
)
def test_loggers_ember_lacks_are_a_clear_error_naming_them(function: str, logger: str) -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    setup = getattr(ember.handlers.logger_utils, function)
    if hasattr(ember.handlers, logger):
        pytest.skip(f"ember has {logger} now; its own tests cover its setup function")
    with pytest.raises(NotImplementedError, match=f"{function} needs ignite's {logger}"):
        setup(trainer)


def test_setup_trains_logging_warns_about_the_rename_as_ignite() -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    if hasattr(ember.handlers, "ClearMLLogger"):
        pytest.skip("ember has ClearMLLogger now; tests/handlers/test_clearml_logger.py covers setup_trains_logging")
    renamed = pytest.warns(UserWarning, match="renamed to setup_clearml_logging")
    with renamed, pytest.raises(NotImplementedError, match="ClearMLLogger"):
        ember.handlers.logger_utils.setup_trains_logging(trainer)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"optimizers": "sgd"}, TypeError, "optimizers must be an optimizer or a dict"),
        ({"optimizers": {"a": 1}}, TypeError, "optimizers must map tags"),
        ({"evaluators": [1]}, TypeError, "evaluators must be an Engine or a dict"),
        ({"log_every_iters": 0}, ValueError, "log_every_iters must be"),
    ],
)
def test_bad_arguments_are_refused_before_a_logger_is_made(
    tmp_path: Path, kwargs: dict[str, Any], error: type, message: str
) -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    with pytest.raises(error, match=message):
        ember.handlers.logger_utils.setup_tb_logging(str(tmp_path / "tb"), trainer, **kwargs)
    assert not (tmp_path / "tb").exists()
