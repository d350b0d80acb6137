"""ClearML: :class:`ClearMLLogger`, :class:`ClearMLSaver` and their handlers, with pytorch-ignite's names and results.

Import them as in ignite, from ``ember.handlers.clearml_logger``. Needs clearml: ``pip install 'ember[clearml]'``.
``clearml.Task.set_offline(True)`` (or :meth:`ClearMLLogger.set_bypass_mode`) keeps everything in a
local offline session folder, with no server.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine
from ember.handlers.checkpoint import DiskSaver
from ember.handlers.loggers._ignite_base import (
    BaseOptimizerParamsHandler,
    BaseOutputHandler,
    BaseWeightsHandler,
    BaseWeightsScalarHandler,
)
from ember.handlers.loggers._services import ServiceLogger, default_step, import_extra, require_logger

__all__ = [
    "ClearMLLogger",
    "ClearMLSaver",
    "GradsHistHandler",
    "GradsScalarHandler",
    "OptimizerParamsHandler",
    "OutputHandler",
    "WeightsHistHandler",
    "WeightsScalarHandler",
]


class ClearMLLogger(ServiceLogger):
    """Report scalars and histograms to a ClearML task: the current one, or a new one made by ``Task.init``.

    Args:
        kwargs: ``project_name``, ``task_name``, ``task_type`` (``Task.TaskTypes.training`` by
            default) and any other keyword of ``clearml.Task.init``.

    Scalars go to ``Logger.report_scalar`` with the first part of the name as the title and the
    rest as the series (``training/loss`` is title ``training``, series ``loss``). Any other
    attribute is the ClearML ``Logger``'s (``logger.report_text(...)``); :meth:`get_task` gives
    the task. :meth:`close` flushes and closes the task.

    Example (offline: the session is kept in ClearML's cache folder)::

        ClearMLLogger.set_bypass_mode(True)
        logger = ClearMLLogger(project_name="mnist", task_name="baseline")
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="training",
                                     output_transform=lambda loss: {"loss": loss})
        trainer.run(loader, max_epochs=2)
        logger.close()
    """

    _task: Any

    def __init__(self, **kwargs: Any) -> None:
        import_extra("clearml", "ClearMLLogger", "clearml")
        from clearml import Task
        from clearml.binding.frameworks.tensorflow_bind import WeightsGradientHistHelper

        for name in ("project_name", "task_name"):
            if kwargs.get(name) is not None and not isinstance(kwargs[name], str):
                raise TypeError(f"{name} must be a string, got {type(kwargs[name]).__name__}.")
        if self.bypass_mode():
            warnings.warn(
                "ClearMLLogger runs in bypass mode (set_bypass_mode(True), or the CI environment variable): "
                "ClearML keeps the task in an offline session only if Task.set_offline(True) was called.",
                UserWarning,
                stacklevel=2,
            )
        init_kwargs = {key: value for key, value in kwargs.items() if key not in ("project_name", "task_name")}
        init_kwargs.setdefault("task_type", Task.TaskTypes.training)
        self._task = Task.current_task()
        if self._task is None:
            self._task = Task.init(
                project_name=kwargs.get("project_name"), task_name=kwargs.get("task_name"), **init_kwargs
            )
        self.clearml_logger = self._task.get_logger()
        self.grad_helper = WeightsGradientHistHelper(logger=self.clearml_logger, report_freq=1)

    @classmethod
    def set_bypass_mode(cls, bypass: bool) -> None:
        """Run ClearML offline (``Task.set_offline``) for every logger made afterwards: no server is contacted."""
        from clearml import Task

        setattr(cls, "_bypass", bool(bypass))  # noqa: B010 - read back with getattr and a default
        Task.set_offline(offline_mode=bypass)

    @classmethod
    def bypass_mode(cls) -> bool:
        """Whether bypass mode is on: as set by :meth:`set_bypass_mode`, else whether ``$CI`` is set."""
        return bool(getattr(cls, "_bypass", bool(os.environ.get("CI"))))

    def __getattr__(self, name: str) -> Any:
        # only reached for names the logger lacks: they are the ClearML Logger's, as in ignite
        clearml_logger = self.__dict__.get("clearml_logger")
        if clearml_logger is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}.")
        return getattr(clearml_logger, name)

    def get_task(self) -> Any:
        """The ClearML ``Task`` this logger reports to."""
        return self._task

    def close(self) -> None:
        """Flush the reports and close the task."""
        self.clearml_logger.flush()
        if self._task:
            self._task.close()

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


class _ClearMLHandler:
    uses_default_step = True

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`ClearMLLogger`."""
        require_logger(self, logger, ClearMLLogger)


class OutputHandler(BaseOutputHandler, _ClearMLHandler):
    """Report an engine's metrics, transformed output and state attributes as scalars titled ``tag``.

    Args:
        tag: the title of the plots (``"training"``); a name nested one level deeper (a dict
            value, a tensor element) gets the title ``tag/name`` and the rest as its series.
        metric_names: names in ``engine.state.metrics`` to report, or ``"all"``.
        output_transform: ``engine.state.output`` -> a number, a tensor or a dict of them.
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's counter of the event.
        state_attributes: ``engine.state`` attributes to report.
    """

    def __init__(
        self,
        tag: str,
        metric_names: str | list[str] | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        state_attributes: list[str] | None = None,
    ) -> None:
        super().__init__(tag, metric_names, output_transform, global_step_transform, state_attributes)
        self.uses_default_step = global_step_transform is None

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values = self._setup_output_metrics_state_attrs(engine)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        for key, value in values.items():
            if len(key) == 2:
                logger.clearml_logger.report_scalar(title=key[0], series=key[1], iteration=step, value=value)
            elif len(key) >= 3:
                logger.clearml_logger.report_scalar(
                    title=f"{key[0]}/{key[1]}", series="/".join(key[2:]), iteration=step, value=value
                )


class OptimizerParamsHandler(BaseOptimizerParamsHandler, _ClearMLHandler):
    """Report ``param_name`` (the learning rate by default) of each param group: title ``[tag/]lr``, series ``i``."""

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = default_step(engine, event_name)
        title = f"{self.tag}/{self.param_name}" if self.tag else self.param_name
        for index, group in enumerate(self.optimizer.param_groups):
            logger.clearml_logger.report_scalar(
                title=title, series=str(index), value=float(group[self.param_name]), iteration=step
            )


def _title_and_series(name: str) -> tuple[str, str]:
    """``("fc", "weight")`` for ``"fc.weight"``: the first module of a parameter's name titles its plot."""
    title, _, series = name.partition(".")
    return title, series


class WeightsScalarHandler(BaseWeightsScalarHandler, _ClearMLHandler):
    """Report ``reduction(parameter)`` (the norm by default) as title ``[tag/]weights_norm/<module>``.

    ``whitelist`` keeps some parameters: names or prefixes, or ``(name, parameter) -> bool``.
    """

    kind = "weights"

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = default_step(engine, event_name)
        prefix = f"{self.tag}/" if self.tag else ""
        reduction = getattr(self.reduction, "__name__", type(self.reduction).__name__)
        for name, parameter in self.weights:
            tensor = parameter.grad if self.kind == "grads" else parameter.data
            if tensor is None:
                continue
            title, series = _title_and_series(name)
            logger.clearml_logger.report_scalar(
                title=f"{prefix}{self.kind}_{reduction}/{title}",
                series=series,
                value=self.reduction(tensor),
                iteration=step,
            )


class GradsScalarHandler(WeightsScalarHandler):
    """Report ``reduction(parameter.grad)`` as title ``[tag/]grads_norm/<module>``; skips parameters without one."""

    kind = "grads"


class WeightsHistHandler(BaseWeightsHandler, _ClearMLHandler):
    """Report a histogram of each parameter, titled ``[tag/]weights_<module>``, through ClearML's histogram helper."""

    kind = "weights"

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = default_step(engine, event_name)
        prefix = f"{self.tag}/" if self.tag else ""
        for name, parameter in self.weights:
            tensor = parameter.grad if self.kind == "grads" else parameter.data
            if tensor is None:
                continue
            title, series = _title_and_series(name)
            logger.grad_helper.add_histogram(
                title=f"{prefix}{self.kind}_{title}", series=series, step=step, hist_data=tensor.cpu().numpy()
            )


class GradsHistHandler(WeightsHistHandler):
    """Report a histogram of each parameter's gradient, titled ``[tag/]grads_<module>``."""

    kind = "grads"


class ClearMLSaver(DiskSaver):
    """A :class:`~ember.handlers.DiskSaver` whose checkpoints ClearML records as the task's output models.

    Args:
        logger: the :class:`ClearMLLogger` (its task must exist: a logger, or ``clearml.Task.init``).
        output_uri: where ClearML uploads the models (the task's ``output_uri``).
        dirname: the folder of the files; a new temporary folder by default.
        args, kwargs: the other arguments of :class:`~ember.handlers.DiskSaver`; ``atomic`` is
            ``False`` by default, so that ClearML's ``torch.save`` hook sees the final file name.

    ClearML keeps one model per slot: when the ``Checkpoint`` removes an old file, the next one
    takes its slot (``<basename>_<slot>.pt``), so ``n_saved`` models are kept there too, each
    with the checkpoint's metadata in its comment.
    """

    _task: Any

    def __init__(
        self,
        logger: ClearMLLogger | None = None,
        output_uri: str | None = None,
        dirname: str | os.PathLike[str] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self._find_task(logger, output_uri)
        if not dirname:
            folder = ""
            if distributed.get_rank() == 0:
                stamp = datetime.now().strftime("%Y_%m_%d_%H_%M_%S_")
                folder = tempfile.mkdtemp(prefix=f"ember_checkpoints_{stamp}")
            if distributed.get_world_size() > 1:
                folder = distributed.all_gather(folder)[0]
            warnings.warn(f"ClearMLSaver writes to a new temporary folder: {folder}", UserWarning, stacklevel=2)
            distributed.barrier()
            dirname = folder
        kwargs.setdefault("atomic", False)
        self._checkpoint_slots: defaultdict[tuple[str, str], list[str | None]] = defaultdict(list)
        super().__init__(dirname, *args, **kwargs)

    def _find_task(self, logger: ClearMLLogger | None, output_uri: str | None) -> None:
        import_extra("clearml", "ClearMLSaver", "clearml")
        from clearml import Task

        if logger is not None and not isinstance(logger, ClearMLLogger):
            raise TypeError(f"logger must be a ClearMLLogger (or None), got {type(logger).__name__}.")
        self._task = Task.current_task()
        if self._task is None and distributed.get_rank() == 0:
            raise RuntimeError(
                "ClearMLSaver needs a ClearML task, and there is none. Create a ClearMLLogger first (and pass it "
                "as logger=), or call clearml.Task.init(...)."
            )
        if output_uri and self._task is not None:
            self._task.output_uri = output_uri

    def _write(self, path: Path, checkpoint: Any) -> None:
        if self.atomic:
            super()._write(path, checkpoint)
            return
        # a plain torch.save to the final name: ClearML's framework hook records it as an output model
        torch.save(checkpoint, str(path), **self.torch_save_kwargs)

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint; ClearML records it as the model of its slot, with ``metadata`` in its comment."""
        from clearml.binding.frameworks import WeightsFileHandler

        basename = (metadata or {}).get("basename")
        if basename is None:
            warnings.warn(
                f"ClearMLSaver got no metadata['basename'] for {filename!r}; its model is named 'checkpoint_<slot>'. "
                "Save through a Checkpoint, which passes it.",
                UserWarning,
                stacklevel=2,
            )
            basename = "checkpoint"
        slots = self._checkpoint_slots[(str(self.dirname), basename)]
        naming = _ModelNaming(WeightsFileHandler.CallbackType.save, slots, str((str(self.dirname), basename)))
        naming.filename, naming.basename, naming.metadata = filename, basename, metadata
        pre = WeightsFileHandler.add_pre_callback(naming.before_save)
        post = WeightsFileHandler.add_post_callback(naming.after_save)
        try:
            super().__call__(checkpoint, filename, metadata)
        finally:
            WeightsFileHandler.remove_pre_callback(pre)
            WeightsFileHandler.remove_post_callback(post)

    def get_local_copy(self, filename: str) -> str | None:
        """A local path of the task's artifact ``filename`` (None, with a report, if the task has none)."""
        if distributed.get_rank() != 0:
            return None
        artifact = self._task.artifacts.get(filename)
        if artifact:
            return str(artifact.get_local_copy())
        self._task.get_logger().report_text(f"ClearMLSaver: the task has no artifact {filename!r}.")
        return None

    def remove(self, filename: str) -> None:
        """Delete the file and free its model slot for the next checkpoint."""
        super().remove(filename)
        for slots in self._checkpoint_slots.values():
            if filename in slots:
                slots[slots.index(filename)] = None
                break


class _ModelNaming:
    """ClearML callbacks around one save: pick the model's slot, then name it and put the metadata in its comment."""

    _PREFIX = "Checkpoint Metadata: "

    def __init__(self, save_action: Any, slots: list[str | None], key: str) -> None:
        self.save_action = save_action
        self.slots = slots
        self.key = key
        self.filename = ""
        self.basename = ""
        self.metadata: Mapping[str, Any] | None = None

    def before_save(self, action: Any, model_info: Any) -> Any:
        if action != self.save_action:
            return model_info
        if None in self.slots:
            slot = self.slots.index(None)
            self.slots[slot] = model_info.upload_filename
        else:
            self.slots.append(model_info.upload_filename)
            slot = len(self.slots) - 1
        model_info.upload_filename = f"{self.basename}_{slot}{os.path.splitext(self.filename)[1]}"
        model_info.local_model_id = f"{self.key}:{model_info.upload_filename}"
        return model_info

    def after_save(self, action: Any, model_info: Any) -> Any:
        if action != self.save_action:
            return model_info
        model_info.model.name = f"{model_info.task.name}: {self.filename}"
        items = ", ".join(f"{key}={value}" for key, value in self.metadata.items()) if self.metadata else "none"
        line = f"{self._PREFIX}{items}"
        lines = [line if old.startswith(self._PREFIX) else old for old in (model_info.model.comment or "").split("\n")]
        comment = "\n".join(lines)
        if self._PREFIX not in comment:
            comment += "\n" + line
        model_info.model.comment = comment
        return model_info
