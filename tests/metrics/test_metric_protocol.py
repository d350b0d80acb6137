"""The Metric protocol: reset/update/compute, attaching with each usage, derived metrics, state for checkpoints."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.distributed as dist
from sklearn import metrics as skm

from ember.engine import Engine, Events
from ember.metrics import (
    Accuracy,
    Average,
    ConfusionMatrix,
    Fbeta,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    MetricsLambda,
    NotComputableError,
    Precision,
    Recall,
    RootMeanSquaredError,
    RunningAverage,
    TopKCategoricalAccuracy,
)

EVERY_METRIC = [
    Accuracy(),
    Precision(),
    Recall(),
    Fbeta(),
    ConfusionMatrix(3),
    TopKCategoricalAccuracy(),
    MeanSquaredError(),
    MeanAbsoluteError(),
    RootMeanSquaredError(),
    Loss(torch.nn.functional.mse_loss),
    Average(),
    RunningAverage(),
    Precision() * 2,
]


@pytest.mark.parametrize("metric", EVERY_METRIC, ids=lambda metric: type(metric).__name__)
def test_compute_before_any_update_raises_not_computable(metric: Metric) -> None:
    metric.reset()
    with pytest.raises(NotComputableError, match=r"must have at least one update before compute\(\)"):
        metric.compute()


def test_not_computable_error_is_a_runtime_error() -> None:
    assert issubclass(NotComputableError, RuntimeError)


def test_single_process_compute_calls_no_collective() -> None:
    """torch.distributed is not initialised here, so any collective would raise; compute works."""
    assert not dist.is_initialized()
    accuracy = Accuracy()
    accuracy.update((torch.tensor([[1.0, 0.0]]), torch.tensor([0])))
    assert accuracy.compute() == 1.0


def test_reset_forgets_everything_seen() -> None:
    average = Average()
    average.update(10.0)
    average.reset()
    average.update(2.0)
    assert average.compute() == 2.0


def test_updates_do_not_keep_the_autograd_graph() -> None:
    y_pred = torch.randn(4, requires_grad=True)
    mse = MeanSquaredError()
    mse.update((y_pred, torch.zeros(4)))
    assert not mse.error_sum.requires_grad
    assert mse.error_sum.device == torch.device("cpu")


# -- attaching ---------------------------------------------------------------------------------------

# Three batches per epoch: outputs (y_pred, y) whose accuracies are 1/2, 1, 0 (2 samples each).
BATCHES = [
    (torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1])),
    (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 0])),
    (torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([0, 0])),
]


def record(engine: Engine, event: Any, name: str) -> list[Any]:
    seen: list[Any] = []
    engine.add_event_handler(event, lambda engine: seen.append(engine.state.metrics[name]))
    return seen


@pytest.mark.parametrize(
    ("usage", "event", "expected"),
    [
        ("epoch_wise", Events.EPOCH_COMPLETED, [0.5, 0.5]),
        ("running", Events.ITERATION_COMPLETED, [0.5, 0.75, 0.5, 0.5, 0.75, 0.5]),
        ("batch_wise", Events.ITERATION_COMPLETED, [0.5, 1.0, 0.0, 0.5, 1.0, 0.0]),
        ("running_batch_wise", Events.ITERATION_COMPLETED, [0.5, 0.75, 0.5, 0.5, 0.6, 0.5]),
    ],
)
def test_usages_publish_at_their_events(usage: str, event: Any, expected: list[float]) -> None:
    engine = Engine(lambda engine, batch: batch)
    Accuracy().attach(engine, "accuracy", usage=usage)
    seen = record(engine, event, "accuracy")
    engine.run(BATCHES, max_epochs=2)
    assert seen == pytest.approx(expected)


def test_output_transform_picks_what_the_metric_sees() -> None:
    engine = Engine(lambda engine, batch: {"loss": 0.1, "pair": batch})
    Accuracy(output_transform=lambda output: output["pair"]).attach(engine, "accuracy")
    Average(output_transform=lambda output: output["loss"]).attach(engine, "loss")
    metrics = engine.run(BATCHES).metrics
    assert metrics == {"accuracy": 0.5, "loss": pytest.approx(0.1)}


def test_an_output_transform_of_the_wrong_arity_is_explained_at_the_first_iteration() -> None:
    engine = Engine(lambda engine, batch: batch)
    Accuracy(output_transform=lambda output: output[0]).attach(engine, "accuracy")
    with pytest.raises(
        ValueError, match=r"Accuracy expects output .* pair \(y_pred, y\), got a tensor of shape \(2, 2\)"
    ):
        engine.run(BATCHES)


def test_detach_and_is_attached() -> None:
    engine = Engine(lambda engine, batch: batch)
    accuracy = Accuracy()
    assert not accuracy.is_attached(engine)
    accuracy.attach(engine, "accuracy")
    assert accuracy.is_attached(engine)
    assert not accuracy.is_attached(engine, usage="batch_wise")
    accuracy.detach(engine)
    assert not accuracy.is_attached(engine)
    assert "accuracy" not in engine.run(BATCHES).metrics
    accuracy.detach(engine)  # detaching twice is a no-op


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.attach(object(), "a"), TypeError, "Accuracy.attach needs an ember Engine, got object"),
        (lambda m: m.attach(Engine(lambda e, b: b), ""), TypeError, "needs a non-empty string name, got ''"),
        (
            lambda m: m.attach(Engine(lambda e, b: b), "a", usage="weekly"),
            ValueError,
            "usage must be one of .* got 'weekly'",
        ),
        (lambda m: m.add_state("extra", 0), TypeError, r"add_state\('extra'\) needs a tensor default, got int"),
        (lambda m: m.add_state("extra", torch.zeros(1), reduction="median"), ValueError, "reduction must be one of"),
        (lambda m: m.load_state_dict([1]), TypeError, "load_state_dict takes a mapping from state_dict"),
        (lambda m: m.load_state_dict({"correct": torch.tensor(1)}), KeyError, r"is missing \['total'\]"),
        (
            lambda m: m.load_state_dict({"__metric_state_per_rank": [{}, {}]}),
            ValueError,
            r"with one state per rank \(1\), got keys \['__metric_state_per_rank'\] and 2 entries",
        ),
        (
            lambda m: m.load_state_dict({"correct": torch.zeros(2), "total": torch.tensor(1), "_updates": 1}),
            ValueError,
            r"got 'correct' of shape \(2,\), but the metric holds shape \(\)",
        ),
    ],
)
def test_misuse_is_explained(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call(Accuracy())


def test_a_handler_added_after_attach_sees_the_new_value() -> None:
    engine = Engine(lambda engine, batch: batch)
    Average().attach(engine, "mean")
    seen = record(engine, Events.EPOCH_COMPLETED, "mean")
    engine.run([1.0, 3.0, 5.0, 7.0], max_epochs=2, epoch_length=2)
    assert seen == [2.0, 6.0]


def test_a_mapping_value_also_publishes_each_item() -> None:
    class MinMax(Metric):
        def __init__(self) -> None:
            super().__init__()
            self.add_state("low", torch.tensor(float("inf")), reduction="min")
            self.add_state("high", torch.tensor(float("-inf")), reduction="max")

        def update(self, output: Any) -> None:
            self.low = torch.minimum(self.low, output.min())
            self.high = torch.maximum(self.high, output.max())

        def compute_from(self, state: Any) -> dict[str, float]:
            return {"low": float(state["low"]), "high": float(state["high"])}

    engine = Engine(lambda engine, batch: batch)
    MinMax().attach(engine, "range")
    metrics = engine.run([torch.tensor([3.0, -1.0]), torch.tensor([7.0])]).metrics
    assert metrics == {"range": {"low": -1.0, "high": 7.0}, "low": -1.0, "high": 7.0}


def test_a_metric_without_compute_from_says_what_to_implement() -> None:
    class Bare(Metric):
        def update(self, output: Any) -> None:
            pass

    bare = Bare()
    bare.update(None)
    with pytest.raises(NotImplementedError, match="Bare declares no compute_from"):
        bare.compute()


# -- derived metrics ---------------------------------------------------------------------------------


def test_f1_from_precision_and_recall_matches_sklearn_and_updates_sources_once() -> None:
    generator = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(8, 4, generator=generator), torch.randint(0, 4, (8,), generator=generator)) for _ in range(5)
    ]
    engine = Engine(lambda engine, batch: batch)
    precision, recall = Precision(average="macro"), Recall(average="macro")
    f1 = 2 * precision * recall / (precision + recall)
    f1.attach(engine, "f1")
    precision.attach(engine, "precision")  # attached after its derived metric: still one update per batch
    metrics = engine.run(batches).metrics
    y = torch.cat([b[1] for b in batches]).numpy()
    predicted = torch.cat([b[0].argmax(1) for b in batches]).numpy()
    p = skm.precision_score(y, predicted, average="macro", zero_division=0)
    r = skm.recall_score(y, predicted, average="macro", zero_division=0)
    assert metrics["precision"] == pytest.approx(p)
    assert metrics["f1"] == pytest.approx(2 * p * r / (p + r))
    assert precision.total_updates() == 5


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda a: a + 1, 1.5),
        (lambda a: 1 + a, 1.5),
        (lambda a: a - 1, -0.5),
        (lambda a: 1 - a, 0.5),
        (lambda a: a * 4, 2.0),
        (lambda a: 4 * a, 2.0),
        (lambda a: a / 4, 0.125),
        (lambda a: 1 / a, 2.0),
        (lambda a: (a * 5) // 2, 1.0),
        (lambda a: (a * 5) % 2, 0.5),
        (lambda a: a**2, 0.25),
        (lambda a: 2**a, 2**0.5),
        (lambda a: -a, -0.5),
        (lambda a: abs(-a), 0.5),
        (lambda a: MetricsLambda(max, a, 0.7), 0.7),
    ],
)
def test_arithmetic_on_metrics(build: Any, expected: float) -> None:
    accuracy = Accuracy()
    derived = build(accuracy)
    accuracy.update(BATCHES[0])
    assert derived.compute() == pytest.approx(expected)


def test_indexing_a_per_class_metric() -> None:
    recall = Recall(task="multiclass", num_classes=3)
    second = recall[1]
    recall.update((torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])))
    assert second.compute() == pytest.approx(0.5)


def test_derived_metric_detach_removes_its_sources_handlers() -> None:
    engine = Engine(lambda engine, batch: batch)
    accuracy = Accuracy()
    doubled = accuracy * 2
    doubled.attach(engine, "doubled")
    assert engine.has_event_handler(accuracy.iteration_completed, Events.ITERATION_COMPLETED)
    doubled.detach(engine)
    assert not engine.has_event_handler(accuracy.iteration_completed, Events.ITERATION_COMPLETED)
    assert not doubled.is_attached(engine)


@pytest.mark.parametrize("usage", ["epoch_wise", "running"])
def test_derived_metric_detach_keeps_a_source_attached_under_its_own_name(usage: str) -> None:
    engine = Engine(lambda engine, batch: batch)
    accuracy = Accuracy()
    accuracy.attach(engine, "accuracy", usage=usage)
    doubled = accuracy * 2
    doubled.attach(engine, "doubled")
    doubled.detach(engine)
    assert accuracy.is_attached(engine, usage) and not doubled.is_attached(engine)
    assert engine.run(BATCHES[:2], max_epochs=2).metrics == {"accuracy": 0.75}  # 3 of 4 right per epoch


# -- state for checkpoints ---------------------------------------------------------------------------


def build_engine() -> tuple[Engine, dict[str, Metric]]:
    engine = Engine(lambda engine, batch: batch)
    metrics: dict[str, Metric] = {
        "accuracy": Accuracy(),
        "precision": Precision(average="macro"),
        "running_loss": RunningAverage(output_transform=lambda output: output[0].sum(), alpha=0.7),
    }
    metrics["f1"] = Fbeta(average="macro") * 1.0
    for name, metric in metrics.items():
        metric.attach(engine, name)
    return engine, metrics


def test_a_run_resumed_mid_epoch_keeps_partial_sums_and_running_averages() -> None:
    generator = torch.Generator().manual_seed(3)
    data = [(torch.randn(4, 3, generator=generator), torch.randint(0, 3, (4,), generator=generator)) for _ in range(6)]
    reference_engine, _ = build_engine()
    expected = reference_engine.run(data, max_epochs=2).metrics

    first, metrics = build_engine()
    saved: dict[str, Any] = {}

    @first.on(Events.ITERATION_COMPLETED(once=9))
    def save(engine: Engine) -> None:
        saved["engine"] = engine.state_dict()
        saved["metrics"] = {name: metric.state_dict() for name, metric in metrics.items()}
        engine.terminate()

    first.run(data, max_epochs=2)
    resumed, fresh = build_engine()
    for name, metric in fresh.items():
        metric.load_state_dict(saved["metrics"][name])
    resumed.load_state_dict(saved["engine"])
    assert resumed.run(data).metrics == pytest.approx(expected)


def test_a_state_saved_in_embers_earlier_format_still_loads() -> None:
    """One rank's flat state (ember before ignite's per-rank format), derived metrics' too, loads and continues."""
    loss = Loss(torch.nn.functional.mse_loss)
    loss.load_state_dict({"loss_sum": torch.tensor(6.0, dtype=torch.float64), "count": torch.tensor(3), "_updates": 2})
    loss.update((torch.tensor([3.0]), torch.tensor([0.0])))
    assert loss.compute() == (6.0 + 9.0) / 4
    assert loss.loss_sum.dtype == torch.float32  # the float64 sum of the earlier format is ignite's float32 now
    accuracy, total = Accuracy(), Accuracy()
    derived = accuracy + total
    derived.load_state_dict(
        {
            "sources": [
                {"correct": torch.tensor(1), "total": torch.tensor(2), "_updates": 1},
                {"correct": torch.tensor(3), "total": torch.tensor(4), "_updates": 1},
            ]
        }
    )
    assert derived.compute() == 0.5 + 0.75


def test_state_dict_is_one_entry_per_rank_under_ignites_key() -> None:
    """Under one process: ``{"__metric_state_per_rank": [this rank's state]}``, ignite's names where it has them."""
    mse = MeanSquaredError()
    mse.update((torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])))
    saved = mse.state_dict()
    assert list(saved) == ["__metric_state_per_rank"]
    (state,) = saved["__metric_state_per_rank"]
    assert state == {"_sum_of_squared_errors": torch.tensor(5.0), "_num_examples": 2, "_updates": 1}
    fresh = MeanSquaredError()
    fresh.load_state_dict(saved)
    assert fresh.compute() == 2.5
