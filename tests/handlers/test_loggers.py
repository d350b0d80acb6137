"""Experiment loggers write what they are told to real files, read back here with the tools users read them with."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ember.engine import Engine, Events
from ember.handlers import (
    CSVLogger,
    CurvesPlotter,
    GradsHistHandler,
    GradsScalarHandler,
    JSONLLogger,
    MLflowLogger,
    OptimizerParamsHandler,
    OutputHandler,
    TensorBoardLogger,
    TensorboardLogger,
    WeightsHistHandler,
    WeightsScalarHandler,
    global_step_from_engine,
    plot_history,
    read_history,
)


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
    accumulator = EventAccumulator(str(log_dir), size_guidance={"histograms": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, round(event.value, 6)) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_tensorboard_logger_writes_outputs_metrics_and_learning_rates(tmp_path: Path) -> None:
    trainer, evaluator, optimizer = trainer_and_evaluator()
    trainer.state.temperature = 3.5
    with TensorBoardLogger(log_dir=tmp_path) as logger:
        logger.attach_output_handler(
            trainer,
            Events.ITERATION_COMPLETED(every=2),
            tag="train",
            output_transform=lambda out: {"loss": out},
            state_attributes=["temperature"],
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names="all",
            global_step_transform=global_step_from_engine(trainer),
        )
        logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED(every=4), optimizer, tag="opt")
        trainer.run([1.0, 2.0, 3.0, 4.0], max_epochs=2)
    written = scalars(tmp_path)
    assert written["train/loss"] == [(2, 2.0), (4, 4.0), (6, 2.0), (8, 4.0)]
    assert written["train/temperature"] == [(2, 3.5), (4, 3.5), (6, 3.5), (8, 3.5)]
    assert written["validation/accuracy"] == [(1, 0.6), (2, 0.7)]
    assert written["validation/per_class/1"] == [(1, 2.0), (2, 2.0)]
    assert written["opt/lr/group_0"] == [(4, 0.1), (8, 0.1)]
    assert written["opt/lr/group_1"] == [(4, 0.5), (8, 0.5)]


def test_ignite_spelling_attach_with_weights_and_gradient_handlers(tmp_path: Path) -> None:
    """ignite's TensorboardLogger + attach(engine, Handler(...), event) write ignite's tag names."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0]]))
        model[0].bias.fill_(1.0)

    def step(engine: Engine, batch: Any) -> float:
        model.zero_grad()
        model(torch.ones(1, 2)).sum().backward()
        return 0.0

    trainer = Engine(step)
    logger = TensorboardLogger(str(tmp_path))
    logger.attach(trainer, WeightsScalarHandler(model), Events.EPOCH_COMPLETED)
    logger.attach(trainer, GradsScalarHandler(model, reduction=torch.sum, tag="g"), Events.EPOCH_COMPLETED)
    logger.attach(trainer, WeightsHistHandler(model, whitelist=["0.weight"]), Events.EPOCH_COMPLETED)
    logger.attach(trainer, GradsHistHandler(model, whitelist=lambda name, p: "bias" in name), Events.EPOCH_COMPLETED)
    handle = logger.attach(trainer, OutputHandler("train", output_transform=lambda o: o), Events.ITERATION_COMPLETED)
    trainer.run([0], max_epochs=2)
    handle.remove()
    trainer.run([0], max_epochs=3)  # one more epoch, without the removed handler
    logger.close()
    written = scalars(tmp_path)
    assert written["weights_norm/0/weight"] == [(1, 5.0), (2, 5.0), (3, 5.0)]
    assert written["weights_norm/0/bias"] == [(1, 1.0), (2, 1.0), (3, 1.0)]
    assert written["g/grads_sum/0/weight"] == [(1, 2.0), (2, 2.0), (3, 2.0)]
    assert written["g/grads_sum/0/bias"] == [(1, 1.0), (2, 1.0), (3, 1.0)]
    assert written["train/output"] == [(1, 0.0), (2, 0.0)]
    accumulator = EventAccumulator(str(tmp_path))
    accumulator.Reload()
    assert sorted(accumulator.Tags()["histograms"]) == ["grads/0/bias", "weights/0/weight"]
    assert accumulator.Histograms("weights/0/weight")[0].histogram_value.num == 2


def test_mlflow_logger_writes_to_a_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    trainer, evaluator, optimizer = trainer_and_evaluator()
    uri = (tmp_path / "mlruns").as_uri()
    logger = MLflowLogger(tracking_uri=uri, experiment_name="digits", params={"lr": 0.1})
    logger.attach_output_handler(trainer, Events.EPOCH_COMPLETED, tag="train", output_transform=lambda out: out)
    logger.attach(
        evaluator,
        OutputHandler("val", metric_names=["accuracy"], global_step_transform=global_step_from_engine(trainer)),
        Events.COMPLETED,
    )
    logger.attach(trainer, OptimizerParamsHandler(optimizer), Events.EPOCH_STARTED)
    trainer.run([1.0, 3.0], max_epochs=3)
    logger.close()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"}
    history = client.get_metric_history(logger.run_id, "val/accuracy")
    assert [(m.step, round(m.value, 6)) for m in history] == [(1, 0.6), (2, 0.7), (3, 0.8)]
    assert [(m.step, m.value) for m in client.get_metric_history(logger.run_id, "train/output")] == [
        (1, 3.0),
        (2, 3.0),
        (3, 3.0),
    ]
    assert [m.step for m in client.get_metric_history(logger.run_id, "lr/group_1")] == [1, 2, 3]


def test_mlflow_logger_refuses_histograms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    logger = MLflowLogger(tracking_uri=(tmp_path / "mlruns").as_uri())
    with pytest.raises(TypeError, match="WeightsHistHandler writes histograms, which MLflowLogger cannot store"):
        logger.attach(Engine(), WeightsHistHandler(torch.nn.Linear(1, 1)), Events.EPOCH_COMPLETED)
    logger.close()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_logger_widens_its_header_when_a_metric_appears_later(tmp_path: Path) -> None:
    """A metric first logged in epoch 2 adds a column; the file stays one consistent table."""
    trainer, evaluator, optimizer = trainer_and_evaluator()

    @evaluator.on(Events.COMPLETED)
    def late_metric(engine: Engine) -> None:
        if trainer.state.epoch >= 2:
            engine.state.metrics["f1"] = 0.25 * trainer.state.epoch

    path = tmp_path / "logs" / "metrics.csv"
    with CSVLogger(path) as logger:
        logger.attach_output_handler(
            trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda out: {"loss": out}
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names="all",
            global_step_transform=global_step_from_engine(trainer),
        )
        logger.attach_opt_params_handler(trainer, Events.EPOCH_COMPLETED, optimizer)
        trainer.run([1.0, 2.0], max_epochs=3)

    rows = csv_rows(path)
    with open(path, newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "step",
        "event",
        "wall_time",
        "train/loss",
        "validation/accuracy",
        "validation/per_class/0",
        "validation/per_class/1",
        "lr/group_0",
        "lr/group_1",
        "validation/f1",
    ]
    assert all(len(row) == len(header) and None not in row for row in rows)
    train = [(row["step"], row["train/loss"]) for row in rows if row["train/loss"]]
    assert train == [("1", "1.0"), ("2", "2.0"), ("3", "1.0"), ("4", "2.0"), ("5", "1.0"), ("6", "2.0")]
    validation = [row for row in rows if row["validation/accuracy"]]
    assert [(r["step"], r["event"], r["validation/accuracy"], r["validation/f1"]) for r in validation] == [
        ("1", "COMPLETED", "0.6", ""),
        ("2", "COMPLETED", "0.7", "0.5"),
        ("3", "COMPLETED", "0.8", "0.75"),
    ]
    assert [row["lr/group_1"] for row in rows if row["lr/group_1"]] == ["0.5", "0.5", "0.5"]
    assert [row["event"] for row in rows].count("ITERATION_COMPLETED") == 6
    history = read_history(path)
    assert history[0]["step"] == 1 and history[0]["train/loss"] == 1.0 and "validation/f1" not in history[0]


def test_csv_logger_appends_to_its_file_on_resume_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    for _ in range(2):
        engine = Engine(lambda engine, batch: batch)
        with CSVLogger(path) as logger:
            logger.attach_output_handler(engine, Events.EPOCH_COMPLETED, tag="t", output_transform=lambda o: o)
            engine.run([2.0], max_epochs=1)
    assert [row["t/output"] for row in csv_rows(path)] == ["2.0", "2.0"]
    with CSVLogger(path, append=False) as logger:
        logger.write({"t/output": 5.0}, 7, Events.COMPLETED)
    assert [(row["step"], row["t/output"]) for row in csv_rows(path)] == [("7", "5.0")]
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="exists but is not a CSVLogger file"):
        CSVLogger(other)


def test_csv_logger_flushes_at_each_epoch_end_and_closes_on_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    logger = CSVLogger(path)
    seen_at_epoch_start: list[int] = []

    def step(engine: Engine, batch: float) -> float:
        if engine.state.epoch == 3:
            raise RuntimeError("boom")
        return batch

    trainer = Engine(step)
    logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda o: o)
    # a second reader sees the rows of the finished epochs while the run goes on
    trainer.add_event_handler(
        Events.EPOCH_STARTED, lambda e: seen_at_epoch_start.append(len(csv_rows(path)) if path.exists() else 0)
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.run([1.0, 2.0], max_epochs=4)
    assert seen_at_epoch_start == [0, 2, 4]
    assert logger._file is None  # released by the failure, not left open
    assert len(csv_rows(path)) == 4
    logger.close()
    with pytest.raises(RuntimeError, match="CSVLogger was closed and cannot log"):
        logger.write({"x": 1.0}, 1)


def test_jsonl_logger_writes_one_object_per_event(tmp_path: Path) -> None:
    trainer, evaluator, _ = trainer_and_evaluator()
    path = tmp_path / "metrics.jsonl"
    with JSONLLogger(path) as logger:
        logger.attach_output_handler(
            trainer, Events.EPOCH_COMPLETED, tag="train", output_transform=lambda o: {"loss": o}
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names=["accuracy"],
            global_step_transform=global_step_from_engine(trainer),
        )
        trainer.run([1.0, 4.0], max_epochs=2)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    # the trainer's EPOCH_COMPLETED handlers run in order: the evaluator (attached first), then the logger
    assert [{k: v for k, v in row.items() if k != "wall_time"} for row in lines] == [
        {"step": 1, "event": "COMPLETED", "validation/accuracy": pytest.approx(0.6)},
        {"step": 1, "event": "EPOCH_COMPLETED", "train/loss": 4.0},
        {"step": 2, "event": "COMPLETED", "validation/accuracy": pytest.approx(0.7)},
        {"step": 2, "event": "EPOCH_COMPLETED", "train/loss": 4.0},
    ]
    assert all(isinstance(row["wall_time"], float) for row in lines)
    assert read_history(path)[1]["train/loss"] == 4.0


def test_a_value_that_is_not_a_number_is_skipped_with_one_warning_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    engine = Engine(lambda engine, batch: {"loss": batch, "note": "text", "image": torch.ones(2, 2)})
    with CSVLogger(path) as logger:
        logger.attach_output_handler(engine, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda o: o)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.run([1.0, 2.0, 3.0])
    messages = [str(w.message) for w in caught]
    assert len([m for m in messages if "'train/note'" in m]) == 1
    assert len([m for m in messages if "'train/image'" in m and "shape (2, 2)" in m]) == 1
    assert len(messages) == 2
    assert [row["train/loss"] for row in csv_rows(path)] == ["1.0", "2.0", "3.0"]
    assert "train/note" not in csv_rows(path)[0]


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger, TensorBoardLogger, "mlflow"])
def test_a_folder_that_cannot_be_written_fails_at_construction(tmp_path: Path, make: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "logs"  # under a regular file: no process can create it
    with pytest.raises(PermissionError, match=r"cannot write to .*a-file/logs.*Pass a folder that this process"):
        if make == "mlflow":
            MLflowLogger(tracking_uri=target.as_uri())
        elif make in (CSVLogger, JSONLLogger):
            make(target / "metrics.csv")
        else:
            make(log_dir=target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_fails_at_construction(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="CSVLogger cannot write to"):
            CSVLogger(tmp_path / "metrics.csv")
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "logs nothing without metric_names, output_transform or state_attributes"),
        ({"metric_names": "accuracy"}, ValueError, "metric_names must be a list of names or 'all'"),
        ({"output_transform": 3}, TypeError, "output_transform must be callable"),
        (
            {"metric_names": "all", "global_step_transform": lambda engine: 1},
            TypeError,
            r"cannot be called as global_step_transform\(engine, event_name\)",
        ),
    ],
)
def test_output_handler_wiring_errors(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with TensorBoardLogger(log_dir=tmp_path) as logger, pytest.raises(error, match=message):
        logger.attach_output_handler(Engine(), Events.COMPLETED, tag="t", **kwargs)


def test_attach_rejects_unknown_events_and_custom_events_without_a_step(tmp_path: Path) -> None:
    engine = Engine()
    engine.register_events("custom")
    handler = OutputHandler("t", metric_names="all")
    with CSVLogger(tmp_path / "m.csv") as logger:
        with pytest.raises(ValueError, match="is not an event of this engine"):
            logger.attach(engine, handler, "unregistered")
        with pytest.raises(ValueError, match=r"has no step for custom.*global_step_transform"):
            logger.attach(engine, handler, "custom")
        # with a step it works
        stepped = OutputHandler("t", metric_names="all", global_step_transform=lambda e, event: 42)
        logger.attach(engine, stepped, "custom")
        engine.state.metrics["m"] = 1.5
        engine.fire_event("custom")
    assert [(r["step"], r["event"], r["t/m"]) for r in csv_rows(tmp_path / "m.csv")] == [("42", "custom", "1.5")]


def test_unloggable_step_and_missing_metric_fail_clearly(tmp_path: Path) -> None:
    with CSVLogger(tmp_path / "m.csv") as logger:
        engine = Engine(lambda engine, batch: 1.0)
        logger.attach_output_handler(
            engine, Events.COMPLETED, tag="t", output_transform=lambda o: o, global_step_transform=lambda e, ev: 1.5
        )
        with pytest.raises(TypeError, match=r"global_step_transform must return an int, got 1\.5"):
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


def decode_png(path: Path) -> Any:
    from matplotlib import image

    return image.imread(str(path))


def test_curves_plotter_draws_a_png_at_the_end_of_a_run_and_on_demand(tmp_path: Path) -> None:
    trainer, evaluator, _ = trainer_and_evaluator()
    csv_logger = CSVLogger(tmp_path / "metrics.csv")
    csv_logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda o: o)
    csv_logger.attach_output_handler(
        evaluator,
        Events.COMPLETED,
        tag="validation",
        metric_names=["accuracy"],
        global_step_transform=global_step_from_engine(trainer),
    )
    plotter = CurvesPlotter(csv_logger, tmp_path / "curves.png", title="test run").attach(trainer)
    trainer.run([1.0, 2.0, 3.0], max_epochs=3)
    pixels = decode_png(tmp_path / "curves.png")
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    # not blank: many distinct colours (curves, text), not one background
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::7].tolist()}) > 20
    (tmp_path / "curves.png").unlink()
    assert plotter.plot() == tmp_path / "curves.png"
    assert decode_png(tmp_path / "curves.png").shape == pixels.shape
    csv_logger.close()


def test_plot_history_draws_rows_and_shares_panels_for_one_name_under_two_tags(tmp_path: Path) -> None:
    rows = [
        {"step": epoch, "event": "EPOCH_COMPLETED", "train/loss": 1 / epoch, "validation/loss": 1.5 / epoch}
        for epoch in range(1, 5)
    ] + [{"step": i, "event": "ITERATION_COMPLETED", "train/batch_loss": 2 / i} for i in range(1, 40)]
    png = plot_history(rows, tmp_path / "out" / "curves.png")
    single = plot_history(rows[:4], tmp_path / "one.png")
    # two panels (loss, train/batch_loss) are wider than one panel
    assert decode_png(png).shape[1] > decode_png(single).shape[1]
    with pytest.raises(TypeError, match="CurvesPlotter draws from a CSVLogger/JSONLLogger"):
        CurvesPlotter(rows, tmp_path / "x.png")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        ("torch.utils.tensorboard", "TensorBoardLogger(log_dir=folder)", "ember[tensorboard]"),
        ("mlflow", "MLflowLogger()", "ember[mlflow]"),
        ("matplotlib", "plot_history([], folder + '/c.png')", "ember[plot]"),
    ],
)
def test_a_missing_optional_package_names_the_extra_to_install(
    tmp_path: Path, blocked: str, statement: str, extra: str
) -> None:
    """In a fresh interpreter where the package cannot be imported, the error says which extra to install."""
    script = (
        "import sys, tempfile\n"
        f"sys.modules[{blocked!r}] = None  # import of it fails as if it were not installed\n"
        "from ember.handlers import TensorBoardLogger, MLflowLogger, plot_history\n"
        "folder = tempfile.mkdtemp()\n"
        "try:\n"
        f"    {statement}\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert f"pip install '{extra}'" in result.stdout, result.stdout + result.stderr


def test_importing_ember_imports_no_writer_package() -> None:
    code = (
        "import sys, ember, ember.handlers, ember.handlers.tensorboard_logger, ember.handlers.mlflow_logger\n"
        "print(sorted(m for m in ('tensorboard', 'mlflow', 'matplotlib', 'torch.utils.tensorboard') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_ignite_import_paths_name_the_same_classes() -> None:
    from ember.handlers import mlflow_logger, tensorboard_logger

    assert tensorboard_logger.TensorboardLogger is TensorBoardLogger
    assert tensorboard_logger.OutputHandler is mlflow_logger.OutputHandler is OutputHandler
    assert mlflow_logger.MLflowLogger is MLflowLogger


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger])
def test_two_loggers_on_one_path_are_refused_while_the_first_lives(tmp_path: Path, make: Any) -> None:
    """A second logger on a live logger's file would rewrite its rows: refused, and allowed once the first is closed."""
    path = tmp_path / ("m.csv" if make is CSVLogger else "m.jsonl")
    trainer, evaluator, _ = trainer_and_evaluator()
    first = make(path)
    with pytest.raises(ValueError, match=r"already writes .* Attach the one logger to every engine"):
        make(tmp_path / "." / path.name)
    with pytest.raises(ValueError, match="already writes"):
        (CSVLogger if make is JSONLLogger else JSONLLogger)(path)
    # the fix the message gives: one logger for the trainer and the evaluator keeps both engines' rows
    first.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda o: o)
    first.attach_output_handler(
        evaluator,
        Events.COMPLETED,
        tag="val",
        metric_names=["accuracy"],
        global_step_transform=global_step_from_engine(trainer),
    )
    trainer.run([1.0, 2.0], max_epochs=2)
    first.close()
    rows = read_history(path)
    assert [(row["step"], sorted(set(row) - {"step", "event", "wall_time"})) for row in rows] == [
        (1, ["train/output"]),
        (2, ["train/output"]),
        (1, ["val/accuracy"]),
        (3, ["train/output"]),
        (4, ["train/output"]),
        (2, ["val/accuracy"]),
    ]
    with make(path) as second:  # closed: the path is free again
        second.write({"val/accuracy": 1.0}, 3, Events.COMPLETED)
    assert len(read_history(path)) == 7


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger])
def test_a_logged_name_equal_to_a_fixed_column_is_renamed_loudly(tmp_path: Path, make: Any) -> None:
    path = tmp_path / ("m.csv" if make is CSVLogger else "m.jsonl")
    with make(path) as logger:
        with pytest.warns(UserWarning, match="writes the logged value 'step' as 'logged_step'"):
            logger.write({"step": 99.0, "loss": 0.5}, 3, Events.ITERATION_COMPLETED)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per name
            logger.write({"step": 100.0, "loss": 0.25}, 4, Events.ITERATION_COMPLETED)
    rows = read_history(path)
    assert [(row["step"], row["event"], row["logged_step"], row["loss"]) for row in rows] == [
        (3, "ITERATION_COMPLETED", 99.0, 0.5),
        (4, "ITERATION_COMPLETED", 100.0, 0.25),
    ]


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger])
def test_a_torn_last_line_is_dropped_with_a_warning_never_glued_to_the_next_row(tmp_path: Path, make: Any) -> None:
    """A write cut short (full disk, power loss) leaves a last line without its end: readers and the logger drop it."""
    path = tmp_path / ("m.csv" if make is CSVLogger else "m.jsonl")
    with make(path) as logger:
        for step in (1, 2, 3):
            logger.write({"loss": float(step)}, step, Events.ITERATION_COMPLETED)
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rstrip(b"\r\n").rfind(b"\n") + 1 + 9])  # the third row cut after 9 bytes
    with pytest.warns(UserWarning, match=r"read_history: the last line .* was cut short"):
        assert [row["step"] for row in read_history(path)] == [1, 2]
    with pytest.warns(UserWarning, match=rf"{make.__name__}: the last line of .* was cut short"):
        logger = make(path)
    with logger:
        logger.write({"loss": 4.0}, 4, Events.ITERATION_COMPLETED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [(row["step"], row["loss"]) for row in read_history(path)] == [(1, 1.0), (2, 2.0), (4, 4.0)]


def test_read_history_names_a_malformed_row_instead_of_returning_it(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("step,event,wall_time,loss\n1,ITERATION_COMPLETED,0.0,0.5\n2,ITERATION_COMPLETED,0.0,0.53,ITER\n")
    with pytest.raises(ValueError, match=r"Row 3 of .* has 5 cells but the header has 4"):
        read_history(path)
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"step": 1, "event": "COMPLETED"}\n{"step": 2, "ev\n{"step": 3, "event": "COMPLETED"}\n')
    with pytest.raises(ValueError, match=r"Line 2 of .* is not a JSON object"):
        read_history(jsonl)


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger])
def test_a_resumed_run_drops_the_rows_logged_after_its_checkpoint(tmp_path: Path, make: Any) -> None:
    """In one process: rows past the loaded state go; an epoch saved before its end is logged again, once."""
    path = tmp_path / ("m.csv" if make is CSVLogger else "m.jsonl")
    saved: dict[str, Any] = {}

    def run(resume: bool) -> None:
        trainer = Engine(lambda engine, batch: float(engine.state.iteration))
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: saved.update(e.state_dict()))
        if resume:
            trainer.load_state_dict(saved)
        with make(path) as logger:
            logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="t", output_transform=lambda o: o)
            logger.attach_output_handler(trainer, Events.EPOCH_COMPLETED, tag="e", state_attributes=["epoch"])
            trainer.run([0, 0], max_epochs=3)

    run(resume=False)  # its state is saved at iteration 4, before epoch 2's end
    run(resume=True)
    assert [(row["step"], row["event"][0]) for row in read_history(path)] == [
        (1, "I"),
        (2, "I"),
        (1, "E"),
        (3, "I"),
        (4, "I"),
        (2, "E"),
        (5, "I"),
        (6, "I"),
        (3, "E"),
    ]


@pytest.mark.parametrize("make", [CSVLogger, JSONLLogger])
def test_a_resume_judges_each_handlers_rows_by_the_counter_it_logs(tmp_path: Path, make: Any) -> None:
    """Trainer rows go by its iteration, rows at the trainer's steps too; an evaluator's own steps are kept."""
    path = tmp_path / ("m.csv" if make is CSVLogger else "m.jsonl")
    saved: dict[str, Any] = {}

    def run(resume: bool) -> None:
        trainer = Engine(lambda engine, batch: float(engine.state.iteration))
        evaluator = Engine(lambda engine, batch: float(engine.state.iteration))
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0, 0, 0, 0, 0]))
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda e: saved.update(e.state_dict()))
        if resume:
            trainer.load_state_dict(saved)
        with make(path) as logger:
            logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="t", output_transform=lambda o: o)
            logger.attach_output_handler(evaluator, Events.ITERATION_COMPLETED, tag="e", output_transform=lambda o: o)
            logger.attach_output_handler(
                evaluator,
                Events.COMPLETED,
                tag="v",
                output_transform=lambda o: o,
                global_step_transform=global_step_from_engine(trainer, Events.ITERATION_COMPLETED),
            )
            trainer.run([0, 0], max_epochs=3)

    def rows() -> list[tuple[str, int]]:
        return [(next(name for name in row if "/" in name).split("/")[0], row["step"]) for row in read_history(path)]

    run(resume=False)
    first = rows()
    run(resume=True)  # from iteration 3: trainer rows 4-6 and the evaluations at trainer steps 4, 6 are redone
    evaluator_rows = [row for row in first if row[0] == "e"]
    assert [row for row in rows() if row[0] != "e"] == [row for row in first if row[0] != "e"]
    # the evaluator's own steps say nothing about the trainer's: all kept, the redone evaluations added
    assert [row for row in rows() if row[0] == "e"] == evaluator_rows + evaluator_rows[5:]
