"""Everything ember does with random number generators, in one place.

- :func:`manual_seed` seeds Python's, NumPy's and torch's global generators at once (ignite's
  ``ignite.utils.manual_seed``; ``ember.utils.manual_seed`` is the same function);
- :class:`RNGStates` is the generators' state as an object that a checkpoint saves and restores
  (``ember.handlers.RNGStates`` is the same class);
- :func:`restore_rng_states` restores a saved state in :class:`RNGStates`'s format or in the list
  format of pytorch-ignite's ``DeterministicEngine``;
- :func:`keep_random_state` runs a function without moving any generator
  (``ember.engine.deterministic.keep_random_state`` is the same function).

This module sits at the bottom of ember's layers: it imports only the standard library and torch
(NumPy when installed), so every other layer may use it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

__all__ = ["RNGStates", "keep_random_state", "manual_seed", "restore_rng_states"]

R = TypeVar("R")


def manual_seed(seed: int) -> None:
    """Seed Python's ``random``, torch (CPU and every CUDA device) and, when installed, NumPy's global generator.

    >>> manual_seed(7); first = torch.rand(1)
    >>> manual_seed(7); torch.equal(first, torch.rand(1))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r} ({type(seed).__name__}).")
    random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    try:
        import numpy
    except ImportError:  # NumPy is optional: without it there is no NumPy generator to seed
        return
    numpy.random.seed(seed % 2**32)  # NumPy's legacy seed takes 32 bits


class RNGStates:
    """The random number generators' states (Python, NumPy, torch CPU and CUDA) as a checkpointable object.

    Put one in ``to_save``: its state dict holds only tensors, numbers and lists, so it loads with
    ``torch.load(weights_only=True)``. Loading it restores every generator; the list that
    pytorch-ignite's ``DeterministicEngine`` saves loads too (see :func:`restore_rng_states`).

    >>> import random
    >>> rng = RNGStates()
    >>> saved = rng.state_dict()
    >>> first = random.random()
    >>> rng.load_state_dict(saved)
    >>> random.random() == first
    True
    """

    def state_dict(self) -> dict[str, Any]:
        """Snapshot of every generator's state."""
        version, mt_state, gauss_next = random.getstate()
        saved: dict[str, Any] = {
            "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss_next},
            "torch": torch.get_rng_state(),
            "cuda": [state for state in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        }
        try:
            import numpy
        except ImportError:  # NumPy is optional: without it there is no NumPy generator to save
            return saved
        kind, keys, position, has_gauss, cached = numpy.random.get_state(legacy=True)  # a tuple when legacy=True
        saved["numpy"] = {
            "kind": str(kind),
            "keys": torch.from_numpy(numpy.asarray(keys, dtype=numpy.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any] | list[Any] | tuple[Any, ...]) -> None:
        """Restore the generators from a :meth:`state_dict` snapshot (or pytorch-ignite's list of states)."""
        if isinstance(state_dict, (list, tuple)):
            _restore_ignite_list(state_dict)
            return
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"RNGStates.load_state_dict needs the dict saved by RNGStates.state_dict(), got "
                f"{type(state_dict).__name__}."
            )
        missing = [key for key in ("python", "torch", "cuda") if key not in state_dict]
        if missing:
            raise ValueError(
                f"RNGStates.load_state_dict misses the keys {missing} (it got {sorted(state_dict)}). "
                "Pass a dict saved by RNGStates.state_dict()."
            )
        python = state_dict["python"]
        random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        if "numpy" in state_dict:
            import numpy

            saved = state_dict["numpy"]
            numpy.random.set_state(
                (
                    saved["kind"],
                    saved["keys"].numpy().astype("uint32"),
                    saved["position"],
                    saved["has_gauss"],
                    saved["cached_gaussian"],
                )
            )


def _restore_ignite_list(saved: list[Any] | tuple[Any, ...]) -> None:
    """pytorch-ignite's format: ``[random.getstate(), torch.get_rng_state(), numpy.random.get_state()]``."""
    if len(saved) < 2:
        raise ValueError(
            "The random state must be a dict saved by RNGStates.state_dict() or the list saved by pytorch-ignite's "
            f"DeterministicEngine ([python, torch, numpy]), got a list of {len(saved)}."
        )
    random.setstate(tuple(saved[0]))
    torch.set_rng_state(saved[1].cpu())
    if len(saved) > 2:
        import numpy

        numpy.random.set_state(saved[2])


def restore_rng_states(saved: Any) -> None:
    """Restore every generator from ``saved``: an :meth:`RNGStates.state_dict` dict, or ignite's list of states.

    pytorch-ignite's ``DeterministicEngine`` saves ``[random.getstate(), torch.get_rng_state(),
    numpy.random.get_state()]``; ember's :class:`~ember.engine.DeterministicEngine` loads either form.

    >>> import random
    >>> ignite_form = [random.getstate(), torch.get_rng_state()]
    >>> first = (random.random(), torch.rand(1))
    >>> restore_rng_states(ignite_form)
    >>> random.random() == first[0], torch.equal(torch.rand(1), first[1])
    (True, True)
    """
    if isinstance(saved, Mapping):
        RNGStates().load_state_dict(saved)
    elif isinstance(saved, (list, tuple)):
        _restore_ignite_list(saved)
    else:
        raise ValueError(
            "state_dict['rng_states'] must be a dict saved by DeterministicEngine.state_dict() or the list saved by "
            f"pytorch-ignite's DeterministicEngine, got {type(saved).__name__}."
        )


def keep_random_state(func: Callable[..., R]) -> Callable[..., R]:
    """Decorate ``func`` so that calling it leaves the random state of Python, NumPy and torch as it found it.

    Useful for work between iterations that draws random numbers (a validation run with random
    augmentation, a sample plot) which must not shift the training's random sequence. The state is
    restored also when ``func`` raises.

    >>> @keep_random_state
    ... def draw():
    ...     return torch.rand(1)
    >>> _ = torch.manual_seed(0); drawn = draw()
    >>> torch.equal(drawn, torch.rand(1))  # the next number is the one draw() took
    True
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        rng = RNGStates()
        saved = rng.state_dict()
        try:
            return func(*args, **kwargs)
        finally:
            rng.load_state_dict(saved)

    return wrapper
