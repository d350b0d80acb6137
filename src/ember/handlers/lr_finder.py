"""The learning-rate range test (Smith, 2017; fast.ai's form): ignite's ``FastaiLRFinder``.

Inside ``with finder.attach(trainer, to_save) as trainer_with_finder:`` a run raises the learning
rate at each iteration from ``start_lr`` to ``end_lr`` (exponentially or linearly) and records the
(smoothed) loss at each rate; it stops when the loss diverges or after ``num_iter`` iterations.
When the block ends, the trainer's state and every object of ``to_save`` (model, optimizer ...) are
put back as they were before, so the real training starts from the same weights.
:meth:`FastaiLRFinder.lr_suggestion` then gives the rate where the loss fell fastest.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import numbers
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler

from ember.distributed import all_reduce
from ember.engine import Engine, Events, RemovableEventHandle
from ember.handlers.param_scheduler import LRScheduler, ParamGroupScheduler, PiecewiseLinear

__all__ = ["FastaiLRFinder"]


class _ExponentialRamp(TorchLRScheduler):
    """``start * (end / start) ** ((last_epoch + 1) / num_iter)`` per param group, as a torch scheduler.

    As ignite's, torch's first step (at construction) ramps from the optimizer's rates; the given
    starting rates are used from then on.
    """

    def __init__(self, optimizer: Optimizer, start_lrs: list[float], end_lrs: list[float], num_iter: int) -> None:
        self.end_lrs = end_lrs
        self.num_iter = num_iter
        super().__init__(optimizer)
        self.base_lrs = list(start_lrs)

    def get_lr(self) -> list[float | torch.Tensor]:
        fraction = (self.last_epoch + 1) / self.num_iter
        return [start * (end / start) ** fraction for start, end in zip(self.base_lrs, self.end_lrs, strict=True)]


def _as_loss(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dim() <= 1:
        return float(value.item())
    if isinstance(value, torch.Tensor):
        raise ValueError(
            f"FastaiLRFinder needs one loss per iteration, but the output is a tensor of shape {tuple(value.shape)}. "
            "Reduce it to one number (e.g. its mean) in the process function or in output_transform."
        )
    raise TypeError(
        f"FastaiLRFinder needs the iteration's loss as a float or a one-element tensor, got {type(value).__name__}. "
        "Pass output_transform=lambda output: output['loss'] (or whatever picks the loss) to attach()."
    )


def _rates(name: str, value: Any, groups: int, default: list[float] | None) -> list[float]:
    """One rate per param group from a number, a list, or (``None``) the default."""
    if value is None and default is not None:
        return default
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [float(value)] * groups
    if isinstance(value, list):
        if len(value) != groups:
            raise ValueError(
                f"{name} has {len(value)} values, but the optimizer has {groups} param groups. Give one per group, "
                "or one number for all."
            )
        return value
    raise TypeError(f"{name} must be a number or a list of numbers (one per param group), got {value!r}.")


class FastaiLRFinder:
    """Find a good learning rate with a short run whose rate rises until the loss diverges.

    Use :meth:`attach` as a context manager around the trainer's run; read :meth:`get_results`,
    :meth:`lr_suggestion`, :meth:`plot`; then :meth:`apply_suggested_lr` and train as usual.

    >>> import torch
    >>> from ember.engine import Engine
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(4, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    >>> data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(50)]
    >>> def step(engine, batch):
    ...     optimizer.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
    ...     loss.backward()
    ...     optimizer.step()
    ...     return loss.item()
    >>> trainer = Engine(step)
    >>> weights = model.weight.clone()
    >>> finder = FastaiLRFinder()
    >>> with finder.attach(trainer, {"model": model, "optimizer": optimizer}, end_lr=10.0) as finding:
    ...     _ = finding.run(data)
    >>> torch.equal(model.weight, weights), optimizer.param_groups[0]["lr"]  # put back as before
    (True, 0.0001)
    >>> 1e-4 < finder.lr_suggestion() < 10.0
    True
    >>> finder.apply_suggested_lr(optimizer)
    >>> optimizer.param_groups[0]["lr"] == finder.lr_suggestion()
    True
    """

    def __init__(self) -> None:
        self._history: dict[str, list[Any]] = {}
        self._best_loss: float | None = None
        self._diverge_flag = False
        self._lr_schedule: LRScheduler | PiecewiseLinear | ParamGroupScheduler | None = None
        self._run_handles: list[RemovableEventHandle] = []
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")

    # ------------------------------------------------------------------ the search run

    def _start(
        self,
        trainer: Engine,
        optimizer: Optimizer,
        output_transform: Callable[[Any], Any],
        num_iter: int | None,
        start_lrs: list[float],
        end_lrs: list[float],
        step_mode: str,
        smooth_f: float,
        diverge_th: float,
    ) -> None:
        """At the run's start: fix the number of iterations, build the rate schedule, add the per-iteration steps."""
        self._history = {"lr": [], "loss": []}
        self._best_loss = None
        self._diverge_flag = False
        state = trainer.state
        planned = int(state.epoch_length or 0) * int(state.max_epochs or 0)
        if num_iter is None:
            num_iter = planned
        elif planned < num_iter:  # run long enough for the whole schedule
            state.max_iters = num_iter
            state.max_epochs = math.ceil(num_iter / int(state.epoch_length or 1))
        schedule: LRScheduler | PiecewiseLinear | ParamGroupScheduler
        if step_mode == "exp":
            schedule = LRScheduler(_ExponentialRamp(optimizer, start_lrs, end_lrs, num_iter))
        elif len(start_lrs) == 1:
            schedule = PiecewiseLinear(optimizer, "lr", [(0, start_lrs[0]), (num_iter, end_lrs[0])])
        else:
            schedule = ParamGroupScheduler(
                [
                    PiecewiseLinear(optimizer, "lr", [(0, start), (num_iter, end)], param_group_index=index)
                    for index, (start, end) in enumerate(zip(start_lrs, end_lrs, strict=True))
                ]
            )
        self._lr_schedule = schedule
        self._run_handles = [
            trainer.add_event_handler(Events.ITERATION_COMPLETED, self._stop_after, num_iter),
            trainer.add_event_handler(Events.ITERATION_COMPLETED, self._record, output_transform, smooth_f, diverge_th),
            trainer.add_event_handler(Events.ITERATION_COMPLETED, schedule),
        ]

    def _stop_after(self, trainer: Engine, num_iter: int) -> None:
        if trainer.state.iteration > num_iter:
            trainer.terminate()

    def _record(
        self, trainer: Engine, output_transform: Callable[[Any], Any], smooth_f: float, diverge_th: float
    ) -> None:
        """Record the rate and the smoothed loss of this iteration; stop the run when the loss diverges."""
        loss = all_reduce(_as_loss(output_transform(trainer.state.output)))  # the sum over ranks, as ignite
        assert self._lr_schedule is not None  # built at the run's start
        self._history["lr"].append(self._lr_schedule.get_param())
        if trainer.state.iteration != 1 and smooth_f > 0:
            loss = smooth_f * loss + (1 - smooth_f) * self._history["loss"][-1]
        if self._best_loss is None or loss < self._best_loss:
            self._best_loss = loss
        self._history["loss"].append(loss)
        if loss > diverge_th * self._best_loss:
            self._diverge_flag = True
            self.logger.info("The loss diverged: the learning-rate search stops here.")
            trainer.terminate()

    def _finish(self, trainer: Engine) -> None:
        """At the run's end: warn if the loss never diverged, and take the per-iteration steps off."""
        if not self._diverge_flag:
            warnings.warn(
                "The learning-rate search ended without the loss diverging, so the curve may not show where it "
                "blows up. Raise end_lr, lower diverge_th, or look at finder.plot().",
                UserWarning,
                stacklevel=2,
            )
        for handle in self._run_handles:
            handle.remove()
        self._run_handles = []

    # ------------------------------------------------------------------ the user's API

    @contextlib.contextmanager
    def attach(
        self,
        trainer: Engine,
        to_save: Mapping[str, Any],
        output_transform: Callable[[Any], Any] = lambda output: output,
        num_iter: int | None = None,
        start_lr: float | list[float] | None = None,
        end_lr: float | list[float] | None = 10.0,
        step_mode: str = "exp",
        smooth_f: float = 0.05,
        diverge_th: float = 5.0,
    ) -> Iterator[Engine]:
        """Run the search on ``trainer`` inside the ``with`` block; put everything back when it ends.

        Args:
            trainer: the trainer (every handler attached to it runs during the search too).
            to_save: the objects to restore afterwards, with the optimizer under ``"optimizer"``,
                e.g. ``{"model": model, "optimizer": optimizer}``; each needs ``state_dict`` and
                ``load_state_dict``.
            output_transform: picks the loss (a float or one-element tensor) from ``state.output``.
            num_iter: iterations of the schedule; by default the run's ``epoch_length * max_epochs``
                (a larger value lengthens the run).
            start_lr: the first rate (number, or one per param group); by default the optimizer's.
            end_lr: the last rate (number or one per param group), above ``start_lr``.
            step_mode: ``"exp"`` (geometric steps) or ``"linear"``.
            smooth_f: loss smoothing, in ``[0, 1)``: ``loss = smooth_f * loss + (1 - smooth_f) * previous``.
            diverge_th: stop when the smoothed loss exceeds ``diverge_th`` times the best one (>= 1).

        Yields:
            ``trainer``, to ``run`` the search with.

        Raises:
            TypeError / ValueError: a bad argument, before anything runs.
        """
        optimizer = self._check(to_save, smooth_f, diverge_th, step_mode, num_iter)
        groups = len(optimizer.param_groups)
        start_lrs = _rates("start_lr", start_lr, groups, [group["lr"] for group in optimizer.param_groups])
        end_lrs = _rates("end_lr", end_lr, groups, None)
        for start, end in zip(start_lrs, end_lrs, strict=True):
            if start >= end:
                raise ValueError(
                    f"start_lr must be below end_lr, got start_lr={start_lr!r} and end_lr={end_lr!r} (per group: "
                    f"{start_lrs} and {end_lrs}). The search raises the rate from start_lr to end_lr."
                )
        trainer_state = copy.deepcopy(trainer.state_dict())
        with tempfile.TemporaryDirectory(prefix="ember_lr_finder_") as folder:
            # on disk rather than in memory: a copy of a large model's weights on its GPU could run out of memory
            saved = Path(folder) / "before_search.pt"
            torch.save({name: item.state_dict() for name, item in to_save.items()}, saved)
            handles = [
                trainer.add_event_handler(
                    Events.STARTED,
                    self._start,
                    optimizer,
                    output_transform,
                    num_iter,
                    start_lrs,
                    end_lrs,
                    step_mode,
                    smooth_f,
                    diverge_th,
                ),
                trainer.add_event_handler(Events.COMPLETED, self._finish),
            ]
            try:
                yield trainer
            finally:
                for handle in [*handles, *self._run_handles]:
                    handle.remove()
                self._run_handles = []
                trainer.load_state_dict(trainer_state)
                for name, state in torch.load(saved, weights_only=True).items():
                    to_save[name].load_state_dict(state)

    @staticmethod
    def _check(to_save: Any, smooth_f: float, diverge_th: float, step_mode: str, num_iter: int | None) -> Optimizer:
        if not isinstance(to_save, Mapping):
            raise TypeError(
                f"to_save must be a mapping such as {{'model': model, 'optimizer': optimizer}}, got "
                f"{type(to_save).__name__}."
            )
        if "optimizer" not in to_save:
            raise ValueError(
                f"to_save must hold the optimizer under the key 'optimizer' (it has {sorted(to_save)}): the search "
                "changes its learning rates."
            )
        optimizer = to_save["optimizer"]
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"to_save['optimizer'] must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
        lacking = [name for name, item in to_save.items() if not hasattr(item, "load_state_dict")]
        if lacking:
            raise TypeError(f"to_save's {lacking} have no state_dict/load_state_dict, so they cannot be restored.")
        if not 0 <= smooth_f < 1:
            raise ValueError(f"smooth_f must be in [0, 1), got smooth_f={smooth_f!r}.")
        if diverge_th < 1:
            raise ValueError(f"diverge_th must be >= 1 (a multiple of the best loss), got diverge_th={diverge_th!r}.")
        if step_mode not in ("exp", "linear"):
            raise ValueError(f"step_mode must be 'exp' or 'linear', got {step_mode!r}.")
        if num_iter is not None and (isinstance(num_iter, bool) or not isinstance(num_iter, int)):
            raise TypeError(f"num_iter must be a whole number of iterations or None, got {num_iter!r}.")
        if num_iter is not None and num_iter <= 0:
            raise ValueError(f"num_iter must be positive, got num_iter={num_iter}.")
        return optimizer

    def get_results(self) -> dict[str, list[Any]]:
        """``{"lr": [...], "loss": [...]}``: the rate and smoothed loss of each iteration of the last search."""
        return self._history

    def _require_results(self, what: str) -> None:
        if not self._history:
            raise RuntimeError(f"FastaiLRFinder has no results to {what} yet: run the search with attach() first.")

    def lr_suggestion(self) -> Any:
        """The rate (one per param group for several) where the loss fell fastest before its minimum.

        Raises:
            RuntimeError: no search ran, or the loss reached its minimum within 2 iterations (widen
                the range of rates).
        """
        self._require_results("suggest from")
        losses = torch.tensor(self._history["loss"])
        falling = losses[: int(losses.argmin()) + 1]
        if len(falling) < 3:
            raise RuntimeError(
                "The loss was lowest within the search's first iterations, so there is no falling part of the curve "
                "to suggest from. Lower start_lr or raise end_lr (the curve should be U-shaped)."
            )
        slopes = (falling[2:] - falling[:-2]) * 0.5  # the central difference at each inner point
        return self._history["lr"][int(slopes.argmin()) + 1]

    def apply_suggested_lr(self, optimizer: Optimizer) -> None:
        """Set the suggested rate(s) on ``optimizer`` (the one the search ran with).

        Raises:
            RuntimeError: ``optimizer`` has another number of param groups than the search.
        """
        suggested = self.lr_suggestion()
        rates = suggested if isinstance(suggested, list) else [suggested]
        if len(rates) != len(optimizer.param_groups):
            raise RuntimeError(
                f"The search suggested {len(rates)} rates, but this optimizer has {len(optimizer.param_groups)} param "
                "groups. Apply the suggestion to the optimizer the search ran with."
            )
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate

    def plot(
        self,
        skip_start: int = 10,
        skip_end: int = 5,
        log_lr: bool = True,
        display_suggestion: bool = True,
        ax: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """Plot the loss against the rate with matplotlib and return the ``Axes``.

        Args:
            skip_start, skip_end: iterations left out at the start and at the end of the curve.
            log_lr: a logarithmic rate axis.
            display_suggestion: mark :meth:`lr_suggestion` with a dot.
            ax: the ``Axes`` to draw on; a new figure (``plt.subplots(**kwargs)``) by default.

        Raises:
            ImportError: matplotlib is not installed (``pip install 'ember[plot]'``).
            RuntimeError: no search ran yet.
            ValueError: ``skip_start`` or ``skip_end`` is negative.
        """
        try:
            from matplotlib import pyplot as plt
        except ImportError:
            raise ImportError(
                "FastaiLRFinder.plot draws with matplotlib, which is not installed. Install it with "
                "`pip install 'ember[plot]'` (or `pip install matplotlib`), or plot get_results() yourself."
            ) from None
        self._require_results("plot")
        if skip_start < 0 or skip_end < 0:
            raise ValueError(f"skip_start and skip_end must be >= 0, got {skip_start} and {skip_end}.")
        rates, losses = self._history["lr"], self._history["loss"]
        groups = len(rates[0]) if isinstance(rates[0], list) else 1
        if ax is None:
            _, ax = plt.subplots(**kwargs)
        if display_suggestion:
            suggested = self.lr_suggestion()
            index = rates.index(suggested)
            if skip_start >= index:
                warnings.warn(
                    f"The suggested rate is at iteration {index}, within skip_start={skip_start}, so the plot does "
                    "not show it. Pass a smaller skip_start.",
                    UserWarning,
                    stacklevel=2,
                )
            marks = suggested if isinstance(suggested, list) else [suggested]
            for rate in marks:
                ax.scatter(rate, losses[index], color="red" if len(marks) == 1 else None, s=75, marker="o", zorder=3)
        end = len(rates) - skip_end
        rates, losses = rates[skip_start:end], losses[skip_start:end]
        plt.legend([f"suggested lr for param_groups {index}" for index in range(groups)])
        ax.plot(rates, losses)
        if log_lr:
            ax.set_xscale("log")
        first, last = rates[0], rates[-1]
        ax.set_xlim([min(first) if isinstance(first, list) else first, max(last) if isinstance(last, list) else last])
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        with warnings.catch_warnings():  # a non-interactive backend (scripts, tests) has nothing to show
            warnings.filterwarnings("ignore", message=".*non-interactive.*", category=UserWarning)
            plt.show()
        return ax
