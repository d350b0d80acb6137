"""ignite 0.5.5's own docstring examples, run with ``ignite`` replaced by ``ember``: each prints what it prints
with ignite. Covered: the names ember added for the long tail of ignite's API (the classification curves and
agreement metrics, rec_sys, nlp, gan, the state-parameter schedulers, ``BatchSizeScheduler``, ``MetricGroup``,
``FastaiLRFinder``, ``EMAHandler``, the ``setup_*_logging`` helpers) and every other testcode example of
ignite not run by ``test_metrics_ignite_examples.py`` (the last test pins that none is left out).

The examples are read from the installed ignite (the test-only oracle) at test time, never copied here.
Each ``.. testcode::`` group of a docstring runs in a fresh namespace like the one ignite's docs give
their doctests (``torch``, ``nn``, the library's engine/handlers/metrics/utils names, a
``default_evaluator`` that returns its batch, ``get_default_trainer()``, ``default_model``, a seed),
first with ignite, then with ember. ``.. code-block:: python`` examples, which ignite's docs do not
run, run the same way where the names they assume (``trainer``, ``model``, ``optimizer``, ``evaluator``,
``dataloader``) are given by this file's own setup, and echo their bare expressions as a REPL would.
An example that prints nothing gets a probe (written here) that prints what it changed. An example
that raises with ignite must raise the same exception type with ember after printing the same lines.

Examples that cannot run here are listed with the reason, which the test id shows.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import logging
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.differential.ignite_docstrings import blocks_of

PLACEHOLDER = re.compile(r"^(?P<name>\w+) = \.\.\.\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    """One example of an ignite docstring: where it is, which blocks, how it is completed."""

    target: str  # "module:qualname" in ignite
    kind: str = "testcode"  # or "code-block"
    group: str = "default"  # the testcode group, or the index of the code block
    probe: str = ""  # code of this file's run after the example (before a `.close()` if there is one)
    after: str = ""  # code of this file's run after the example, to read back what it wrote
    skip: str = ""  # why the example cannot run here
    echo: bool = True  # a code block's bare expressions print their value (a REPL's habit)
    logs: bool = False  # what the example logs to stderr is compared too, times masked
    raises: str = ""  # the exception ignite's own run of the example raises (none unless named here)

    @property
    def id(self) -> str:
        module, name = self.target.split(":")
        if module.endswith("_logger") and self.kind == "code-block":  # the loggers' handlers share names
            name = f"{module.rsplit('.', 1)[1]}.{name}"
        suffix = "" if self.group == "default" else f"[{self.group}]"
        return f"{name}{suffix}" + (f" (skipped: {self.skip})" if self.skip else "")


def docstring_of(target: str) -> str:
    module_name, qualname = target.split(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return inspect.getdoc(obj) or ""


def example_code(example: Example) -> list[str]:
    """The example's blocks: a testcode group's blocks in order, or the n-th python code block."""
    blocks = blocks_of(docstring_of(example.target))
    if example.kind == "testcode":
        code = [text for kind, group, text in blocks if kind == "testcode" and group == example.group]
    else:
        python = [text for kind, argument, text in blocks if kind == "code-block" and argument in ("python", "default")]
        code = [python[int(example.group)]] if int(example.group) < len(python) else []
    assert code, f"ignite's {example.target} has no {example.kind} example {example.group}"
    return code


SETUP = """
from collections import OrderedDict
import torch
from torch import nn, optim
from {lib}.engine import *
from {lib}.handlers import *
from {lib}.metrics import *
from {lib}.utils import *
from {lib}.contrib.metrics import *

default_evaluator = Engine(lambda engine, batch: batch)
default_optimizer = torch.optim.SGD([torch.zeros([1], requires_grad=True)], lr=0.1)


def get_default_trainer():  # returns its batch: RunningAverage's examples average it
    return Engine(lambda engine, batch: batch)


default_model = nn.Sequential(OrderedDict([("base", nn.Linear(4, 2)), ("fc", nn.Linear(2, 1))]))
manual_seed(666)
"""

# What the handler examples assume is "already defined": a small regression and its engines.
# What the handler examples assume is "already defined": a small classifier (its last layer named "fc", as the
# whitelist examples expect), its engines with the "nll" and "accuracy" metrics they log, and a data loader.
TRAINING_SETUP = """
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(OrderedDict([("base", nn.Linear(4, 8)), ("relu", nn.ReLU()), ("fc", nn.Linear(8, 3))]))
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
dataloader = DataLoader(TensorDataset(torch.randn(256, 4), torch.randint(0, 3, (256,))), batch_size=8)
trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
evaluator = create_supervised_evaluator(model, metrics={"nll": Loss(nn.CrossEntropyLoss()), "accuracy": Accuracy()})
lr_finder = FastaiLRFinder()
"""

RUN_TRAINER_WITH_VALIDATION = """
validation = trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(dataloader))
state = trainer.run(dataloader, max_epochs=2, epoch_length=8)
print(trainer.state.iteration, evaluator.state.metrics)
"""

READ_TENSORBOARD = """
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from pathlib import Path

for value in list(globals().values()):  # an example that does not close its logger has unflushed events
    if type(value).__name__ in ("TensorboardLogger", "TensorBoardLogger"):
        value.close()

for folder in sorted({path.parent for path in Path("experiments/tb_logs").rglob("events.out.tfevents.*")}):
    events = EventAccumulator(str(folder))
    events.Reload()
    for tag in sorted(events.Tags()["scalars"]):
        print(tag, [(event.step, round(event.value, 12)) for event in events.Scalars(tag)])
    for tag in sorted(events.Tags()["histograms"]):
        histograms = [(event.step, event.histogram_value) for event in events.Histograms(tag)]
        print(tag, [(step, value.num, round(value.sum, 9), round(value.max, 9)) for step, value in histograms])
"""

# ember names MLflow metrics "validation/mse" where ignite writes "validation mse" (deliberate: docs/migration.md,
# "MLflow names are train/loss ... as in TensorBoard"); the values and steps must be ignite's.
READ_MLFLOW_METRICS = """
from pathlib import Path

import mlflow

mlflow.end_run()  # an example that does not close its logger leaves its run active

for metrics in sorted(Path("mlruns").glob("*/*/metrics")):
    for path in sorted(path for path in metrics.rglob("*") if path.is_file()):
        rows = [line.split()[1:] for line in path.read_text().splitlines()]
        print(path.relative_to(metrics).as_posix().replace("/", " "), rows)
"""

PRINT_BATCH_SIZES = """
sizes = []
default_trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: sizes.append(len(engine.state.batch[0])))
default_trainer.run(dataloader, max_epochs=4)
print(sizes, default_trainer.state.iteration, default_trainer.state.epoch)
"""

TESTCODE = {
    "ignite.handlers.param_scheduler": ["BatchSizeScheduler"],
    "ignite.handlers.state_param_scheduler": [
        "LambdaStateScheduler",
        "PiecewiseLinearStateScheduler",
        "ExpStateScheduler",
        "StepStateScheduler",
        "MultiStepStateScheduler",
    ],
    "ignite.metrics.roc_auc": ["ROC_AUC", "RocCurve"],
    "ignite.metrics.average_precision": ["AveragePrecision"],
    "ignite.metrics.precision_recall_curve": ["PrecisionRecallCurve"],
    "ignite.metrics.cohen_kappa": ["CohenKappa"],
    "ignite.metrics.matthews_corrcoef": ["MatthewsCorrCoef"],
    "ignite.metrics.classification_report": ["ClassificationReport"],
    "ignite.metrics.multilabel_confusion_matrix": ["MultiLabelConfusionMatrix"],
    "ignite.metrics.rec_sys.hitrate": ["HitRate"],
    "ignite.metrics.rec_sys.ndcg": ["NDCG"],
    "ignite.metrics.nlp.bleu": ["Bleu"],
    "ignite.metrics.nlp.rouge": ["Rouge", "RougeN", "RougeL"],
    "ignite.metrics.nlp.character_error_rate": ["CharacterErrorRate"],
    "ignite.metrics.nlp.perplexity": ["Perplexity"],
    "ignite.metrics.gan.fid": ["FID"],
    "ignite.metrics.gan.inception_score": ["InceptionScore"],
}
# The names ember had before: their examples run here too, so that every testcode example of ignite runs
# in this file or in test_metrics_ignite_examples.py (pinned by the last test below).
EARLIER_TESTCODE = {
    "ignite.engine.engine": ["Engine.interrupt", "Engine.terminate"],
    "ignite.handlers.checkpoint": ["ModelCheckpoint"],
    "ignite.handlers.param_scheduler": [
        "ConcatScheduler",
        "CosineAnnealingScheduler",
        "LRScheduler",
        "LinearCyclicalScheduler",
        "ParamGroupScheduler",
        "PiecewiseLinear",
        "ReduceLROnPlateauScheduler",
        "create_lr_scheduler_with_warmup",
    ],
    "ignite.metrics.accumulation": ["Average", "GeometricAverage"],
    "ignite.metrics.accuracy": ["Accuracy"],
    "ignite.metrics.confusion_matrix": ["ConfusionMatrix", "DiceCoefficient", "IoU", "JaccardIndex", "mIoU"],
    "ignite.metrics.epoch_metric": ["EpochMetric"],
    "ignite.metrics.fbeta": ["Fbeta"],
    "ignite.metrics.loss": ["Loss"],
    "ignite.metrics.mean_absolute_error": ["MeanAbsoluteError"],
    "ignite.metrics.mean_squared_error": ["MeanSquaredError"],
    "ignite.metrics.metrics_lambda": ["MetricsLambda"],
    "ignite.metrics.precision": ["Precision"],
    "ignite.metrics.recall": ["Recall"],
    "ignite.metrics.root_mean_squared_error": ["RootMeanSquaredError"],
    "ignite.metrics.running_average": ["RunningAverage"],
    "ignite.metrics.top_k_categorical_accuracy": ["TopKCategoricalAccuracy"],
}
PROBES = {"BatchSizeScheduler": PRINT_BATCH_SIZES}


def collect_testcode_examples() -> list[Example]:
    examples = []
    for module, names in [*TESTCODE.items(), *EARLIER_TESTCODE.items()]:
        for name in names:
            target = f"{module}:{name}"
            groups = dict.fromkeys(group for kind, group, _ in blocks_of(docstring_of(target)) if kind == "testcode")
            examples += [Example(target, group=group, probe=PROBES.get(name, "")) for group in groups]
    return examples


def _nll_loss_error_of_this_torch() -> str:
    """What this torch raises for NLLLoss of 6 class indices against 6 targets (ignite's MetricGroup example).

    ValueError (a 1-D input needs a target of size 1) on the torch CI runs; torch 2.3 checks the dtype first
    and raises RuntimeError ("nll_loss_out_frame" not implemented for 'Long').
    """
    try:
        torch.nn.NLLLoss()(torch.tensor([1, 0, 1, 0, 1, 1]), torch.tensor([1, 0, 1, 1, 0, 1]))
    except Exception as error:
        return type(error).__name__
    return ""


CODE_BLOCKS = [
    # ignite's example gives NLLLoss class indices as predictions: both libraries raise torch's error
    Example("ignite.metrics.metric_group:MetricGroup", "code-block", "0", raises=_nll_loss_error_of_this_torch()),
    Example("ignite.handlers.lr_finder:FastaiLRFinder", "code-block", "0"),
    Example(
        "ignite.handlers.lr_finder:FastaiLRFinder.attach",
        "code-block",
        "0",
        probe="print(trainer.state.iteration, optimizer.param_groups[0]['lr'])",
    ),
    Example(
        "ignite.handlers.logger_utils:setup_tb_logging",
        "code-block",
        "0",
        probe=RUN_TRAINER_WITH_VALIDATION,
        after=READ_TENSORBOARD,
    ),
    Example(
        "ignite.handlers.logger_utils:setup_mlflow_logging",
        "code-block",
        "0",
        probe=RUN_TRAINER_WITH_VALIDATION,
        after=READ_MLFLOW_METRICS,
    ),
    Example("ignite.handlers.ema_handler:EMAHandler", "code-block", "0", skip="not valid Python (a dict of pairs)"),
    Example("ignite.handlers.fbresearch_logger:FBResearchLogger", "code-block", "0", echo=False, logs=True),
    Example("ignite.handlers.ema_handler:EMAHandler", "code-block", "1", skip="needs a CUDA device; step_fn, run(...)"),
    Example("ignite.handlers.ema_handler:EMAHandler", "code-block", "2", skip="placeholders build_generator(...)"),
    Example("ignite.metrics.frequency:Frequency", "code-block", "0", skip="prints a rate per second of wall time"),
    Example("ignite.metrics.gpu_info:GpuInfo", "code-block", "0", skip="needs an NVIDIA GPU"),
    Example(
        "ignite.handlers.logger_utils:setup_visdom_logging",
        "code-block",
        "0",
        skip="needs a visdom server (tests/handlers/test_visdom_logger.py)",
    ),
    Example(
        "ignite.handlers.logger_utils:setup_wandb_logging",
        "code-block",
        "0",
        skip="a wandb run (offline: tests/handlers/test_wandb_logger.py)",
    ),
    Example(
        "ignite.handlers.logger_utils:setup_clearml_logging",
        "code-block",
        "0",
        skip="a ClearML task (offline: tests/handlers/test_clearml_logger.py)",
    ),
    Example(
        "ignite.handlers.logger_utils:setup_neptune_logging",
        "code-block",
        "0",
        skip="neptune not installed (tests/handlers/test_neptune_logger.py)",
    ),
    Example(
        "ignite.handlers.logger_utils:setup_plx_logging",
        "code-block",
        "0",
        skip="polyaxon not installed (tests/handlers/test_polyaxon_logger.py)",
    ),
]
NO_WHITELISTED_PARAMETER = "a whitelist selecting no parameter is refused when built (docs/migration.md, Loggers)"
LOGGER_SKIPS = {
    ("tensorboard_logger", "TensorboardLogger", "0"): "not valid Python (an unmatched ')')",
    ("tensorboard_logger", "TensorboardLogger", "1"): "uses update_fn, which it does not define",
    ("tensorboard_logger", "TensorboardLogger", "3"): "misspells evaluator as evalutator",
    ("tensorboard_logger", "OutputHandler", "2"): "a fragment: no tb_logger, no state attributes alpha and beta",
    ("tensorboard_logger", "OutputHandler", "3"): "defines a function and runs nothing",
    ("tensorboard_logger", "WeightsHistHandler", "2"): NO_WHITELISTED_PARAMETER,
    ("tensorboard_logger", "GradsHistHandler", "2"): NO_WHITELISTED_PARAMETER,
    ("mlflow_logger", "MLflowLogger", "0"): "not valid Python (an unmatched ')')",
    ("mlflow_logger", "MLflowLogger", "2"): "misspells evaluator as evalutator",
    ("mlflow_logger", "OutputHandler", "2"): "a fragment: no mlflow_logger, no state attributes alpha and beta",
    ("mlflow_logger", "OutputHandler", "3"): "defines a function and runs nothing",
}
LOGGER_CODE_BLOCKS = {
    "tensorboard_logger": (
        READ_TENSORBOARD,
        {
            "TensorboardLogger": "0123",
            "OutputHandler": "0123",
            "OptimizerParamsHandler": "0",
            "WeightsScalarHandler": "012",
            "WeightsHistHandler": "012",
            "GradsScalarHandler": "012",
            "GradsHistHandler": "012",
        },
    ),
    "mlflow_logger": (
        READ_MLFLOW_METRICS,
        {"MLflowLogger": "012", "OutputHandler": "0123", "OptimizerParamsHandler": "0"},
    ),
}
LOGGER_EXAMPLES = [
    Example(
        f"ignite.handlers.{module}:{name}",
        "code-block",
        group,
        probe=RUN_TRAINER_WITH_VALIDATION,
        after=after,
        skip=LOGGER_SKIPS.get((module, name, group), ""),
        raises="TypeError" if (name, group) == ("OutputHandler", "1") else "",  # it passes metrics= for metric_names=
    )
    for module, (after, names) in LOGGER_CODE_BLOCKS.items()
    for name, groups in names.items()
    for group in groups
]
EXAMPLES = collect_testcode_examples() + CODE_BLOCKS + LOGGER_EXAMPLES


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Any:
    """Both libraries run on one intra-op thread: on a busy 2-core machine two threads make every step slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_echoing(code: str, namespace: dict[str, Any]) -> None:
    """Run ``code`` statement by statement; a bare expression's value is printed as the REPL prints it.

    A default ``object.__repr__`` is printed as ``<ClassName object>``: its address and the module that
    defines the class (``ignite.engine.events`` or ``ember.engine._dispatch``) are not the library's output.
    """
    for statement in ast.parse(code).body:
        if isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), "<example>", "eval"), namespace)
            if value is not None:
                print(re.sub(r"<[\w.]*?(\w+) object at 0x[0-9a-f]+>", r"<\1 object>", repr(value)))
        else:
            exec(compile(ast.Module([statement], type_ignores=[]), "<example>", "exec"), namespace)


def with_probe(code: str, probe: str) -> str:
    """The example with the probe run before its first ``.close()`` line (or at its end)."""
    lines = code.splitlines()
    at = next((index for index, line in enumerate(lines) if re.search(r"\.close\(\)\s*$", line)), len(lines))
    return "\n".join([*lines[:at], probe, *lines[at:]])


def printed(library: str, example: Example) -> tuple[str, str | None]:
    """What the example prints with ``library``, and the type of the exception it raises (None if none)."""
    namespace: dict[str, Any] = {}
    exec(SETUP.format(lib=library), namespace)
    blocks = example_code(example)
    if example.kind == "code-block":
        exec(TRAINING_SETUP, namespace)
        blocks = [
            PLACEHOLDER.sub(lambda match: "" if match["name"] in namespace else match[0], text) for text in blocks
        ]
    if example.probe:
        blocks[-1] = with_probe(blocks[-1], example.probe)
    if example.after:
        blocks.append(example.after)
    output, logged = io.StringIO(), io.StringIO()
    raised = None
    with warnings.catch_warnings(), contextlib.redirect_stdout(output), contextlib.redirect_stderr(logged):
        warnings.simplefilter("ignore")
        try:
            for text in blocks:
                text = text.replace("ignite", library)
                if example.kind == "code-block" and example.echo:
                    run_echoing(text, namespace)
                else:
                    exec(text, namespace)
        except Exception as error:  # the same failure is expected of ember
            raised = type(error).__name__
        finally:
            remove_handlers_writing_to(logged)
            if "mlflow" in sys.modules:  # a run the example started and did not end (it raised) is ended here
                sys.modules["mlflow"].end_run()
    return output.getvalue() + (without_times(logged.getvalue()) if example.logs else ""), raised


def remove_handlers_writing_to(stream: io.StringIO) -> None:
    """Detach the logging handlers an example's ``setup_logger`` pointed at ``stream`` (loggers are global)."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for handler in list(logger.handlers):
                if getattr(handler, "stream", None) is stream:
                    logger.removeHandler(handler)


def without_times(text: str) -> str:
    """Log lines with their clock times and durations masked: the rest must be equal."""
    text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "<when> ", text, flags=re.MULTILINE)
    text = re.sub(r"\b\d+:\d\d:\d\d\b", "<h:mm:ss>", text)
    return re.sub(r"\b\d+\.\d+ s\b", "<seconds> s", text)


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_ignites_docstring_example_prints_the_same_with_ember(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each library runs in its own working folder: the logging examples write relative paths."""
    if example.skip:
        pytest.skip(example.skip)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")

    def in_own_folder(library: str) -> None:
        (tmp_path / library).mkdir()
        monkeypatch.chdir(tmp_path / library)
        # mlflow's runs in an mlruns folder there, read back by the test (mlflow caches a store per URI)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / library / "mlruns").as_uri())

    in_own_folder("ignite")
    expected = printed("ignite", example)
    assert expected[1] == (example.raises or None), f"ignite's {example.id} example raised {expected[1]}"
    assert expected[0].strip() or expected[1], f"ignite's {example.id} example shows nothing"
    in_own_folder("ember")
    assert printed("ember", example) == expected


def ignite_objects_with_testcode() -> set[str]:
    """``module:qualname`` of every public ignite class, function or method whose docstring has a testcode."""
    import pkgutil

    import ignite

    found = set()
    for info in pkgutil.walk_packages(ignite.__path__, "ignite."):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # an optional package ignite's module needs is not installed here
                continue
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [(f"{name}.{attribute}", value) for attribute, value in vars(obj).items()]
            for qualname, member in members:
                if not qualname.split(".")[-1].startswith("_") and ".. testcode::" in (inspect.getdoc(member) or ""):
                    found.add(f"{info.name}:{qualname}")
    return found


def test_every_testcode_example_of_ignite_is_run() -> None:
    """Every testcode group of ignite's docstrings runs here or in test_metrics_ignite_examples.py (read, not listed)."""
    from tests.differential.test_metrics_ignite_examples import CASES

    run = {(example.target, example.group) for example in EXAMPLES if example.kind == "testcode"}
    elsewhere = {name for _, name in CASES}
    for target in sorted(ignite_objects_with_testcode()):
        if target.split(":")[1] in elsewhere:
            continue
        for kind, group, _ in blocks_of(docstring_of(target)):
            assert kind != "testcode" or (target, group) in run, f"ignite's {target} example {group} is not run"
