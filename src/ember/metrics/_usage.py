"""When an attached metric resets, updates and publishes: :class:`MetricUsage` and ignite's usages.

The names are re-exported by :mod:`ember.metrics.metric` (ignite's path) and :mod:`ember.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.engine import Events

__all__ = [
    "BatchFiltered",
    "BatchWise",
    "EpochWise",
    "MetricUsage",
    "RunningBatchWise",
    "RunningEpochWise",
    "SingleEpochRunningBatchWise",
]


class MetricUsage:
    """When an attached metric resets, updates and publishes its value: three engine events.

    Args:
        started: the event at which the metric is reset.
        completed: the event at which ``compute()`` is stored in ``engine.state.metrics[name]``.
        iteration_completed: the event at which the metric is updated with the engine's output
            (may be a filtered event such as ``Events.ITERATION_COMPLETED(every=2)``).
        name: the name accepted by :meth:`Metric.attach` as ``usage=name``; the built-in usages
            have it as the class attribute :attr:`usage_name`, as in ignite.

    ``MetricUsage(started, completed, iteration_completed)`` is ignite's order; ember's earlier form
    ``MetricUsage(name, started, iteration_completed, completed)``, with a name first, is accepted too.
    ignite's attribute names ``STARTED``, ``ITERATION_COMPLETED`` and ``COMPLETED`` read the same
    fields as ``started``, ``iteration_completed`` and ``completed``.
    """

    #: the usage's name, ``usage=`` of :meth:`Metric.attach` (a class attribute of each built-in usage)
    usage_name: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and isinstance(args[0], str):  # ember's earlier order: name, started, iteration_completed, completed
            kwargs.setdefault("name", args[0])
            fields: tuple[str, ...] = ("started", "iteration_completed", "completed")
            args = args[1:]
        else:  # ignite's order
            fields = ("started", "completed", "iteration_completed")
        if len(args) > len(fields):
            raise TypeError(f"MetricUsage takes {len(fields)} events ({', '.join(fields)}), got {len(args)} arguments.")
        for field, value in zip(fields, args, strict=False):
            if field in kwargs:
                raise TypeError(f"MetricUsage got {field} twice, as a positional and as a keyword argument.")
            kwargs[field] = value
        unknown = sorted(set(kwargs) - {"name", "started", "completed", "iteration_completed"})
        missing = [field for field in ("started", "completed", "iteration_completed") if field not in kwargs]
        if unknown or missing:
            raise TypeError(
                f"MetricUsage takes started, completed and iteration_completed (and an optional name), got "
                f"unknown {unknown} and missing {missing}. Pass e.g. MetricUsage(started=Events.EPOCH_STARTED, "
                "completed=Events.EPOCH_COMPLETED, iteration_completed=Events.ITERATION_COMPLETED)."
            )
        if kwargs.get("name") is not None:
            self.usage_name = kwargs["name"]
        self.started = kwargs["started"]
        self.iteration_completed = kwargs["iteration_completed"]
        self.completed = kwargs["completed"]

    @property
    def name(self) -> str:
        """ember's name for :attr:`usage_name`."""
        return getattr(self, "usage_name", type(self).__name__)

    @property
    def STARTED(self) -> Any:
        """ignite's name for :attr:`started`."""
        return self.started

    @property
    def ITERATION_COMPLETED(self) -> Any:
        """ignite's name for :attr:`iteration_completed`."""
        return self.iteration_completed

    @property
    def COMPLETED(self) -> Any:
        """ignite's name for :attr:`completed`."""
        return self.completed

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EpochWise(MetricUsage):
    """Reset at ``EPOCH_STARTED``, update every ``ITERATION_COMPLETED``, publish at ``EPOCH_COMPLETED``.

    The default usage: ``engine.state.metrics[name]`` holds the value over the whole epoch.
    """

    usage_name: str = "epoch_wise"

    def __init__(self) -> None:
        super().__init__(Events.EPOCH_STARTED, Events.EPOCH_COMPLETED, Events.ITERATION_COMPLETED)


class RunningEpochWise(EpochWise):
    """Reset when a run starts afresh, update and publish at every ``EPOCH_COMPLETED`` (as ignite's).

    The metric is updated once per epoch with the output of the epoch's last iteration, and its
    value covers all epochs so far (``usage="running_epoch_wise"``). For the value of the epoch so
    far after each iteration, use ``usage="running"`` (:class:`SingleEpochRunningBatchWise`).
    A subclass of :class:`EpochWise`, as in ignite.
    """

    usage_name: str = "running_epoch_wise"

    def __init__(self) -> None:
        MetricUsage.__init__(self, Events.STARTED, Events.EPOCH_COMPLETED, Events.EPOCH_COMPLETED)


class BatchWise(MetricUsage):
    """Reset at ``ITERATION_STARTED``, update and publish at ``ITERATION_COMPLETED``: one batch's value."""

    usage_name: str = "batch_wise"

    def __init__(self) -> None:
        super().__init__(Events.ITERATION_STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


class RunningBatchWise(BatchWise):
    """Reset when a run starts afresh, update and publish at every ``ITERATION_COMPLETED``.

    The value covers the whole run so far, across epochs; a run resumed from a checkpoint keeps
    the state loaded with :meth:`Metric.load_state_dict` (``usage="running_batch_wise"``).
    A subclass of :class:`BatchWise`, as in ignite.
    """

    usage_name: str = "running_batch_wise"

    def __init__(self) -> None:
        MetricUsage.__init__(self, Events.STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


class SingleEpochRunningBatchWise(BatchWise):
    """Reset at ``EPOCH_STARTED``, update and publish at every ``ITERATION_COMPLETED``.

    The value after each iteration covers the epoch so far (``usage="single_epoch_running_batch_wise"``,
    ignite's name, or ember's short ``"running"``). A subclass of :class:`BatchWise`, as in ignite.
    """

    usage_name: str = "single_epoch_running_batch_wise"

    def __init__(self) -> None:
        MetricUsage.__init__(self, Events.EPOCH_STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


class BatchFiltered(MetricUsage):
    """Like :class:`EpochWise`, but updated only at the iterations a filter selects.

    The arguments are those of a filtered event: ``BatchFiltered(every=2)`` updates at
    ``Events.ITERATION_COMPLETED(every=2)``; the value over the selected batches is published at
    ``EPOCH_COMPLETED``.
    """

    usage_name: str = "batch_filtered"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Events.EPOCH_STARTED, Events.EPOCH_COMPLETED, Events.ITERATION_COMPLETED(*args, **kwargs))


_USAGES: dict[str, Callable[[], MetricUsage]] = {
    "epoch_wise": EpochWise,
    "running": SingleEpochRunningBatchWise,
    "single_epoch_running_batch_wise": SingleEpochRunningBatchWise,
    "running_epoch_wise": RunningEpochWise,
    "batch_wise": BatchWise,
    "running_batch_wise": RunningBatchWise,
}
