"""pytorch-ignite's ``ignite.contrib.engines.common``: the usual handlers of a training script in one call each.

- :func:`setup_common_training_handlers`: stop on NaN, a learning-rate schedule, periodic checkpoints,
  running averages of the step's outputs, progress bars, emptying the CUDA cache after each epoch,
  and ``set_epoch`` of a distributed sampler (under ``torch.distributed``).
- :func:`save_best_model_by_val_score` / :func:`gen_save_best_models_by_val_score`: keep the best
  models by an evaluator's metric.
- :func:`add_early_stopping_by_val_score`: stop training when an evaluator's metric stops improving.
- the ``setup_*_logging`` functions of :mod:`ember.handlers.logger_utils`.

Each builds ember's handlers with ignite's settings (names, events, file names), so a script
written for ignite writes the same files and computes the same values.
"""

from __future__ import annotations

import gc
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler
from torch.utils.data.distributed import DistributedSampler

from ember.distributed import get_rank, get_world_size
from ember.engine import Engine, Events
from ember.handlers import (
    Checkpoint,
    DiskSaver,
    EarlyStopping,
    ProgressBar,
    TerminateOnNan,
    global_step_from_engine,
)
from ember.handlers.logger_utils import (
    setup_clearml_logging,
    setup_mlflow_logging,
    setup_neptune_logging,
    setup_plx_logging,
    setup_tb_logging,
    setup_trains_logging,
    setup_visdom_logging,
    setup_wandb_logging,
)
from ember.metrics import GpuInfo, RunningAverage, RunningBatchWise

__all__ = [
    "add_early_stopping_by_val_score",
    "empty_cuda_cache",
    "gen_save_best_models_by_val_score",
    "save_best_model_by_val_score",
    "setup_any_logging",
    "setup_clearml_logging",
    "setup_common_distrib_training_handlers",
    "setup_common_training_handlers",
    "setup_mlflow_logging",
    "setup_neptune_logging",
    "setup_plx_logging",
    "setup_tb_logging",
    "setup_trains_logging",
    "setup_visdom_logging",
    "setup_wandb_logging",
]


def empty_cuda_cache(_: Engine | None = None) -> None:
    """Give cached CUDA memory back to the device and collect garbage (a handler, e.g. at ``EPOCH_COMPLETED``)."""
    torch.cuda.empty_cache()
    gc.collect()


class _OutputItem:
    """``output[name]`` of a mapping, ``output[index]`` of a sequence, or the output itself if it is one number."""

    def __init__(self, index: int, name: str) -> None:
        self.index, self.name = index, name

    def __call__(self, output: Any) -> Any:
        if isinstance(output, Mapping):
            return output[self.name]
        if isinstance(output, Sequence):
            return output[self.index]
        if isinstance(output, (torch.Tensor, numbers.Number)):
            return output
        raise TypeError(
            f"output_names={self.name!r} needs the process function to return a mapping, a sequence or a number, "
            f"got {type(output).__name__}."
        )


def _check_training_arguments(
    trainer: Any, to_save: Any, output_path: Any, save_handler: Any, save_every_iters: Any, log_every_iters: Any
) -> None:
    if not isinstance(trainer, Engine):
        raise TypeError(f"trainer must be an ember Engine, got {type(trainer).__name__}.")
    if output_path is not None and save_handler is not None:
        raise ValueError(
            "output_path and save_handler both say where checkpoints go; pass one of them (output_path for a folder, "
            "save_handler for e.g. a DiskSaver with other options)."
        )
    if to_save is not None and output_path is None and save_handler is None:
        raise ValueError(
            "to_save was given but not where to save it: pass output_path='<folder>' (or save_handler=...)."
        )
    for name, value in (("save_every_iters", save_every_iters), ("log_every_iters", log_every_iters)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of iterations >= 1, got {name}={value!r}.")


def setup_common_training_handlers(
    trainer: Engine,
    train_sampler: DistributedSampler[Any] | None = None,
    to_save: Mapping[str, Any] | None = None,
    save_every_iters: int = 1000,
    output_path: str | None = None,
    lr_scheduler: Any = None,
    with_gpu_stats: bool = False,
    output_names: Iterable[str] | None = None,
    with_pbars: bool = True,
    with_pbar_on_iters: bool = True,
    log_every_iters: int = 100,
    stop_on_nan: bool = True,
    clear_cuda_cache: bool = True,
    save_handler: Callable[..., Any] | None = None,
    **kwargs: Any,
) -> None:
    """Attach the usual training handlers to ``trainer``, as ignite's function does.

    Args:
        trainer: the trainer.
        train_sampler: a ``DistributedSampler`` whose ``set_epoch(epoch - 1)`` is called at each
            ``EPOCH_STARTED`` (several processes only; ignored with a warning in one process).
        to_save: objects to checkpoint every ``save_every_iters`` iterations, as
            ``training_checkpoint_<iteration>.pt`` (``training_<name>_<iteration>.pt`` for one object):
            a :class:`~ember.handlers.Checkpoint` with ``filename_prefix="training"``; ``kwargs`` go
            to it, e.g. ``n_saved``.
        output_path: the folder of those checkpoints (a ``DiskSaver``), or ...
        save_handler: ... where else to save them (not both).
        lr_scheduler: a torch scheduler (stepped after each iteration) or an ember parameter
            scheduler (at the start of each iteration).
        with_gpu_stats: attach :class:`~ember.metrics.GpuInfo` as ``gpu`` every ``log_every_iters``
            iterations (needs an NVIDIA GPU and pynvml: without them, an error now).
        output_names: names of the process function's outputs (keys of a dict, positions of a
            sequence) whose running averages become metrics of that name.
        with_pbars, with_pbar_on_iters: an epoch progress bar, and one over iterations showing the
            metrics (every ``log_every_iters``), on rank 0.
        stop_on_nan: :class:`~ember.handlers.TerminateOnNan` after each iteration.
        clear_cuda_cache: :func:`empty_cuda_cache` after each epoch (when CUDA is available).

    Raises:
        TypeError / ValueError: a bad combination (``to_save`` without a place, ``output_path``
            and ``save_handler`` together, a sampler that is not a ``DistributedSampler`` ...).

    >>> import tempfile, torch
    >>> from ember.engine import Engine
    >>> model = torch.nn.Linear(2, 1)
    >>> trainer = Engine(lambda engine, batch: {"loss": float(batch)})
    >>> folder = tempfile.mkdtemp()
    >>> setup_common_training_handlers(
    ...     trainer, to_save={"model": model}, output_path=folder, save_every_iters=2,
    ...     output_names=["loss"], with_pbars=False,
    ... )
    >>> round(trainer.run([1.0, 2.0, 3.0, 4.0]).metrics["loss"], 4)
    1.1184
    >>> import os; sorted(os.listdir(folder))
    ['training_model_4.pt']
    """
    _check_training_arguments(trainer, to_save, output_path, save_handler, save_every_iters, log_every_iters)
    distributed = get_world_size() > 1
    if train_sampler is not None:
        if distributed and not isinstance(train_sampler, DistributedSampler):
            raise TypeError(
                f"train_sampler must be a torch DistributedSampler (its set_epoch is called each epoch), got "
                f"{type(train_sampler).__name__}."
            )
        if not distributed and isinstance(train_sampler, DistributedSampler):
            warnings.warn(
                "train_sampler is a DistributedSampler, but this is a single process (world size 1): it is ignored.",
                UserWarning,
                stacklevel=2,
            )
    if stop_on_nan:
        trainer.add_event_handler(Events.ITERATION_COMPLETED, TerminateOnNan())
    if lr_scheduler is not None:
        if isinstance(lr_scheduler, TorchLRScheduler):
            trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: lr_scheduler.step())
        else:
            trainer.add_event_handler(Events.ITERATION_STARTED, lr_scheduler)
    if torch.cuda.is_available() and clear_cuda_cache:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, empty_cuda_cache)
    if to_save is not None:
        saver = DiskSaver(dirname=output_path, require_empty=False) if output_path is not None else save_handler
        assert saver is not None  # checked above
        checkpoint = Checkpoint(to_save, saver, filename_prefix="training", **kwargs)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=save_every_iters), checkpoint)
    if with_gpu_stats:
        _attach_gpu_info(trainer, log_every_iters)
    for index, name in enumerate(output_names or ()):
        RunningAverage(output_transform=_OutputItem(index, name)).attach(trainer, name, usage=RunningBatchWise())
    if with_pbars and get_rank() == 0:
        if with_pbar_on_iters:
            ProgressBar(persist=False).attach(
                trainer, metric_names="all", event_name=Events.ITERATION_COMPLETED(every=log_every_iters)
            )
        ProgressBar(persist=True, bar_format="").attach(
            trainer, event_name=Events.EPOCH_STARTED, closing_event_name=Events.COMPLETED
        )
    if distributed and train_sampler is not None:
        sampler = train_sampler
        trainer.add_event_handler(Events.EPOCH_STARTED, lambda engine: sampler.set_epoch(engine.state.epoch - 1))


def _attach_gpu_info(trainer: Engine, log_every_iters: int) -> None:
    GpuInfo().attach(trainer, name="gpu", event_name=Events.ITERATION_COMPLETED(every=log_every_iters))


#: ignite's second name; the one function handles one process and several
setup_common_distrib_training_handlers = setup_common_training_handlers


def setup_any_logging(
    logger: Any, logger_module: Any, trainer: Engine, optimizers: Any, evaluators: Any, log_every_iters: int
) -> None:
    """Removed in ignite 0.4 (calling it raises there too): use one of the ``setup_*_logging`` functions.

    Raises:
        DeprecationWarning: always, naming the replacements.
    """
    raise DeprecationWarning(
        "setup_any_logging was removed in ignite 0.4.0 and does nothing; use setup_tb_logging, setup_mlflow_logging "
        "(or another setup_*_logging) instead."
    )


def gen_save_best_models_by_val_score(
    save_handler: Callable[..., Any],
    evaluator: Engine,
    models: nn.Module | Mapping[str, nn.Module],
    metric_name: str,
    n_saved: int = 3,
    trainer: Engine | None = None,
    tag: str = "val",
    score_sign: float = 1.0,
    **kwargs: Any,
) -> Checkpoint:
    """Keep the ``n_saved`` best ``models`` by ``evaluator.state.metrics[metric_name]``, saved by ``save_handler``.

    Files are named as ignite's: ``best_<name>_<step>_<tag>_<metric>=<score>.pt`` (``step`` the
    trainer's epoch when ``trainer`` is given). ``score_sign=-1.0`` keeps the lowest (a loss).
    ``kwargs`` go to :class:`~ember.handlers.Checkpoint`. Returns the checkpoint handler, added
    to ``evaluator`` at ``COMPLETED``.
    """
    if not isinstance(evaluator, Engine):
        raise TypeError(f"evaluator must be an ember Engine, got {type(evaluator).__name__}.")
    if not isinstance(metric_name, str):
        raise TypeError(f"metric_name must be the name of a metric of the evaluator, got {metric_name!r}.")
    step = global_step_from_engine(trainer) if trainer is not None else None
    to_save = {"model": models} if isinstance(models, nn.Module) else models
    checkpoint = Checkpoint(
        to_save,
        save_handler,
        filename_prefix="best",
        n_saved=n_saved,
        global_step_transform=step,
        score_name=f"{tag}_{metric_name.lower()}",
        score_function=Checkpoint.get_default_score_fn(metric_name, score_sign=score_sign),
        **kwargs,
    )
    evaluator.add_event_handler(Events.COMPLETED, checkpoint)
    return checkpoint


def save_best_model_by_val_score(
    output_path: str,
    evaluator: Engine,
    model: nn.Module,
    metric_name: str,
    n_saved: int = 3,
    trainer: Engine | None = None,
    tag: str = "val",
    score_sign: float = 1.0,
    **kwargs: Any,
) -> Checkpoint:
    """:func:`gen_save_best_models_by_val_score` into the folder ``output_path`` (a ``DiskSaver``)."""
    return gen_save_best_models_by_val_score(
        DiskSaver(dirname=output_path, require_empty=False),
        evaluator,
        model,
        metric_name,
        n_saved=n_saved,
        trainer=trainer,
        tag=tag,
        score_sign=score_sign,
        **kwargs,
    )


def add_early_stopping_by_val_score(
    patience: int, evaluator: Engine, trainer: Engine, metric_name: str, score_sign: float = 1.0
) -> EarlyStopping:
    """Stop ``trainer`` when ``evaluator.state.metrics[metric_name]`` has not improved for ``patience`` evaluations.

    ``score_sign=-1.0`` for a metric that should fall (a loss). Returns the
    :class:`~ember.handlers.EarlyStopping` handler, added to ``evaluator`` at ``COMPLETED``.
    """
    if not isinstance(evaluator, Engine):
        raise TypeError(f"evaluator must be an ember Engine, got {type(evaluator).__name__}.")
    stopper = EarlyStopping(
        patience=patience,
        score_function=Checkpoint.get_default_score_fn(metric_name, score_sign=score_sign),
        trainer=trainer,
    )
    evaluator.add_event_handler(Events.COMPLETED, stopper)
    return stopper
