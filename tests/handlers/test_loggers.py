"""Experiment loggers write what they are told to real TensorBoard event files and a real MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ember.engine import Engine, Events
from ember.handlers import MLflowLogger, TensorBoardLogger, global_step_from_engine


def trainer_and_evaluator() -> tuple[Engine, Engine, torch.optim.Optimizer]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD(
        [{"params": [parameter]}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5}], lr=0.1
    )
    trainer = Engine(lambda engine, batch: float(batch))
    evaluator = Engine(lambda engine, batch: None)

    @evaluator.on(Events.COMPLETED)
    def fake_metrics(engine: Engine) -> None:
        engine.state.metrics = {"accuracy": 0.5 + 0.1 * trainer.state.epoch, "per_class": torch.tensor([1.0, 2.0])}

    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: evaluator.run([0]))
    return trainer, evaluator, optimizer


def scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {
        tag: [(event.step, round(event.value, 6)) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_tensorboard_logger_writes_outputs_metrics_and_learning_rates(tmp_path: Path) -> None:
    trainer, evaluator, optimizer = trainer_and_evaluator()
    with TensorBoardLogger(log_dir=tmp_path) as logger:
        logger.attach_output_handler(
            trainer, Events.ITERATION_COMPLETED(every=2), tag="train", output_transform=lambda out: {"loss": out}
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names="all",
            global_step_transform=global_step_from_engine(trainer),
        )
        logger.attach_opt_params_handler(trainer, Events.EPOCH_STARTED, optimizer)
        trainer.run([1.0, 2.0, 3.0, 4.0], max_epochs=2)
    written = scalars(tmp_path)
    assert written["train/loss"] == [(2, 2.0), (4, 4.0), (6, 2.0), (8, 4.0)]
    assert written["validation/accuracy"] == [(1, 0.6), (2, 0.7)]
    assert written["validation/per_class/1"] == [(1, 2.0), (2, 2.0)]
    assert written["lr/group0"] == [(0, 0.1), (4, 0.1)]
    assert written["lr/group1"] == [(0, 0.5), (4, 0.5)]


def test_mlflow_logger_writes_to_a_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    trainer, evaluator, _ = trainer_and_evaluator()
    uri = (tmp_path / "mlruns").as_uri()
    logger = MLflowLogger(tracking_uri=uri, experiment_name="digits", params={"lr": 0.1})
    logger.attach_output_handler(trainer, Events.EPOCH_COMPLETED, tag="train", output_transform=lambda out: out)
    logger.attach_output_handler(
        evaluator,
        Events.COMPLETED,
        tag="val",
        metric_names=["accuracy"],
        global_step_transform=global_step_from_engine(trainer),
    )
    trainer.run([1.0, 3.0], max_epochs=3)
    logger.close()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"}
    history = client.get_metric_history(logger.run_id, "val/accuracy")
    assert [(m.step, round(m.value, 6)) for m in history] == [(1, 0.6), (2, 0.7), (3, 0.8)]
    assert [(m.step, m.value) for m in client.get_metric_history(logger.run_id, "train")] == [
        (1, 3.0),
        (2, 3.0),
        (3, 3.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "logs nothing without metric_names or output_transform"),
        ({"metric_names": "accuracy"}, ValueError, "metric_names must be a list of names or 'all'"),
        ({"output_transform": 3}, TypeError, "output_transform must be callable"),
    ],
)
def test_output_handler_wiring_errors(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with TensorBoardLogger(log_dir=tmp_path) as logger, pytest.raises(error, match=message):
        logger.attach_output_handler(Engine(), Events.COMPLETED, tag="t", **kwargs)


def test_unloggable_output_and_missing_metric_fail_clearly(tmp_path: Path) -> None:
    with TensorBoardLogger(log_dir=tmp_path) as logger:
        engine = Engine(lambda engine, batch: "text")
        logger.attach_output_handler(engine, Events.COMPLETED, tag="t", output_transform=lambda out: out)
        with pytest.raises(TypeError, match="Cannot log t: expected a number, a tensor or a mapping of them, got str"):
            engine.run([0])
        other = Engine()
        logger.attach_output_handler(other, Events.COMPLETED, tag="v", metric_names=["accuracy"])
        with pytest.raises(KeyError, match=r"metrics \['accuracy'\] are not in engine.state.metrics"):
            other.run([0])


def test_opt_params_handler_errors(tmp_path: Path) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with TensorBoardLogger(log_dir=tmp_path) as logger:
        with pytest.raises(TypeError, match=r"must be a torch\.optim\.Optimizer"):
            logger.attach_opt_params_handler(Engine(), Events.STARTED, "sgd")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="have no 'beta'"):
            logger.attach_opt_params_handler(Engine(), Events.STARTED, optimizer, param_name="beta")
