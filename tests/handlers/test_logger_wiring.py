"""Loggers and log handlers refuse wrong callables, values and keywords when built, and never stop a run for a log."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from ignite.handlers import tensorboard_logger as ignite_tb
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ember.engine import Engine, Events
from ember.handlers import (
    CSVLogger,
    CurvesPlotter,
    JSONLLogger,
    MLflowLogger,
    OutputHandler,
    TensorBoardLogger,
    WeightsHistHandler,
    WeightsScalarHandler,
    read_history,
)


class TwoLayers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(2, 2)
        self.fc2 = torch.nn.Linear(2, 1)


def test_output_transform_that_cannot_take_the_output_fails_when_built() -> None:
    """ignite accepts it and fails with a bare TypeError at the first event; ember refuses it at once."""
    with pytest.raises(
        TypeError, match=r"OutputHandler output_transform <lambda> cannot be called as output_transform"
    ):
        OutputHandler("train", output_transform=lambda output, extra: output)
    ignite_tb.OutputHandler("train", output_transform=lambda output, extra: output)  # ignite: no error until used
    OutputHandler("train", output_transform=lambda output, extra=1: output)  # a default is fine
    from ember.handlers.base_logger import BaseOutputHandler

    class MyHandler(BaseOutputHandler):  # ignite's base for a logger of one's own, checked the same way
        def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None: ...

    with pytest.raises(TypeError, match=r"MyHandler output_transform <lambda> cannot be called as output_transform"):
        MyHandler("train", output_transform=lambda output, extra: output)


def test_a_reduction_that_does_not_return_one_number_fails_when_built() -> None:
    """The same arguments are refused by ignite too (a trial call at construction)."""
    model = TwoLayers()
    with pytest.raises(TypeError, match=r"reduction must turn a tensor into one number.*shape \(4, 2\)"):
        WeightsScalarHandler(model, reduction=torch.abs)
    with pytest.raises(TypeError, match="scalar"):
        ignite_tb.WeightsScalarHandler(model, reduction=torch.abs)
    with pytest.raises(TypeError, match=r"reduction <lambda> cannot be called as reduction\(tensor\)"):
        WeightsScalarHandler(model, reduction=lambda a, b: a)


def test_whitelist_follows_ignites_prefix_rule_and_refuses_selecting_nothing(tmp_path: Path) -> None:
    model = TwoLayers()
    ours = WeightsScalarHandler(model, whitelist=["fc"])
    theirs = ignite_tb.WeightsScalarHandler(model, whitelist=["fc"])
    assert [name for name, _ in ours.weights] == [name for name, _ in theirs.weights] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"whitelist=\['conv'\] selects none of the model's parameters.*fc1.weight"):
        WeightsScalarHandler(model, whitelist=["conv"])
    with pytest.raises(ValueError, match="selects none"):
        WeightsHistHandler(model, whitelist=lambda name, parameter: False)
    with pytest.raises(TypeError, match=r"got a string. Pass \['fc1'\]"):
        WeightsScalarHandler(model, whitelist="fc1")


def test_a_nan_histogram_is_skipped_with_one_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    """ignite's run stops (TensorBoard cannot bin NaN); ember skips that histogram and logs the others."""
    model = TwoLayers()
    trainer = Engine(lambda engine, batch: None)

    @trainer.on(Events.ITERATION_COMPLETED)
    def poison(engine: Engine) -> None:
        if engine.state.iteration == 2:
            with torch.no_grad():
                model.fc1.weight[0, 0] = float("nan")

    with TensorBoardLogger(log_dir=tmp_path) as logger:
        logger.attach(trainer, WeightsHistHandler(model), Events.ITERATION_COMPLETED)
        with pytest.warns(UserWarning, match=r"skips the histogram of 'weights/fc1/weight' at step 2: it holds NaN"):
            trainer.run([0, 0, 0])
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    accumulator.Reload()
    assert [event.step for event in accumulator.Histograms("weights/fc1/weight")] == [1]
    assert [event.step for event in accumulator.Histograms("weights/fc2/weight")] == [1, 2, 3]


def test_state_attributes_missing_from_the_state_are_named(tmp_path: Path) -> None:
    """ignite logs nothing for them (a warning at each event); ember warns when attached and fails at the event."""
    with pytest.raises(TypeError, match=r"list of engine.state attribute names.*\['epoch'\]"):
        OutputHandler("t", state_attributes="epoch")  # type: ignore[arg-type]
    engine = Engine(lambda engine, batch: None)
    with CSVLogger(tmp_path / "m.csv") as logger:
        with pytest.warns(UserWarning, match=r"engine.state has no attribute 'nope' \(it has \[.*'epoch'"):
            logger.attach_output_handler(engine, Events.COMPLETED, tag="t", state_attributes=["epoch", "nope"])
        with pytest.raises(AttributeError, match=r"Set engine.state.nope before the first logging event"):
            engine.run([0])

    def build() -> Engine:
        engine = Engine(lambda engine, batch: None)
        engine.add_event_handler(Events.STARTED, lambda e: setattr(e.state, "temperature", 2.5))
        return engine

    with CSVLogger(tmp_path / "n.csv") as logger, pytest.warns(UserWarning, match="'temperature'"):
        logger.attach_output_handler(build(), Events.COMPLETED, tag="t", state_attributes=["temperature"])
    engine = build()
    with CSVLogger(tmp_path / "n.csv") as logger:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logger.attach_output_handler(engine, Events.COMPLETED, tag="t", state_attributes=["temperature"])
        engine.run([0])  # set before the event: logged
    assert [row["t/temperature"] for row in read_history(tmp_path / "n.csv")] == [2.5]


def test_tensorboard_logger_refuses_a_log_dir_that_is_not_a_path_and_names_log_dir_for_logdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ignite writes to a folder named '42'; ember refuses. logdir= (tensorboardX's spelling) is refused by both."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"log_dir must be a folder path \(a str or os.PathLike\), got 42 \(int\)"):
        TensorBoardLogger(log_dir=42)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'logdir'. Did you mean log_dir=\.\.\.\?"):
        TensorBoardLogger(logdir=str(tmp_path))
    with pytest.raises(TypeError, match="logdir"):
        ignite_tb.TensorboardLogger(logdir=str(tmp_path))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("build", "wrong", "right"),
    [
        (lambda path: CSVLogger(path, apend=False), "apend", "append"),
        (lambda path: JSONLLogger(path=path, appends=True), "appends", "append"),
        (lambda path: OutputHandler("t", metric_name=["a"]), "metric_name", "metric_names"),
        (lambda path: WeightsScalarHandler(TwoLayers(), white_list=["fc1"]), "white_list", "whitelist"),
        (lambda path: MLflowLogger(experiment="x"), "experiment", "experiment_name"),
        (lambda path: CurvesPlotter(path, path.with_suffix(".png"), titel="x"), "titel", "title"),
    ],
)
def test_a_misspelt_keyword_names_the_closest_parameter(tmp_path: Path, build: Any, wrong: str, right: str) -> None:
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{wrong}'. Did you mean {right}=\.\.\.\?"):
        build(tmp_path / "m.csv")


def test_mlflow_logger_checks_run_id_and_server_when_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing run fails at construction (it failed at the first write); an unreachable server within the bound."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(ValueError, match="run_id='0123456789abcdef' is not a run of the tracking store"):
        MLflowLogger(tracking_uri=uri, run_id="0123456789abcdef")
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=r"cannot reach the tracking server 'http://127.0.0.1:9'"):
        MLflowLogger(tracking_uri="http://127.0.0.1:9", connect_timeout=2.0)
    assert time.monotonic() - started < 30  # MLflow's own retries took minutes (249 s measured)


def test_mlflow_logger_skips_a_name_mlflow_refuses_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ignite leaves invalid names out with a warning; ember too (once per name), and the run goes on."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    trainer = Engine(lambda engine, batch: float(batch))
    logger = MLflowLogger(tracking_uri=uri)
    logger.attach_output_handler(
        trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda out: {"loss": out, "acc@1": out}
    )
    with pytest.warns(UserWarning, match="skips the metric 'train/acc@1': MLflow refuses its name") as caught:
        trainer.run([1.0, 2.0, 3.0])
    logger.close()
    assert sum("acc@1" in str(warning.message) for warning in caught) == 1
    import mlflow

    history = mlflow.MlflowClient(tracking_uri=uri).get_metric_history(str(logger.run_id), "train/loss")
    assert [(metric.step, metric.value) for metric in history] == [(1, 1.0), (2, 2.0), (3, 3.0)]
