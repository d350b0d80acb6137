"""Run in each of 2 gloo ranks: gradient accumulation under DDP/FSDP, by ember's trainer and by a synced loop."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

import ember.distributed as idist
from ember import Events
from ember.engine import create_supervised_trainer

SAMPLES_PER_BATCH = 4  # per rank
# what FSDP2 reduces gradients with: dist.reduce_scatter_single on the torch CI runs (2.13), reduce_scatter_tensor
# on the older ones (2.7 has no reduce_scatter_single)
_REDUCE_SCATTER = "reduce_scatter_single" if hasattr(dist, "reduce_scatter_single") else "reduce_scatter_tensor"
_ORIGINAL_REDUCE_SCATTER = getattr(dist, _REDUCE_SCATTER)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _batches(epoch_length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's batches: its rows of the same global data on every rank."""
    generator = torch.Generator().manual_seed(1)
    rank, world = idist.get_rank(), idist.get_world_size()
    batches = []
    for _ in range(epoch_length):
        x = torch.randn(SAMPLES_PER_BATCH * world, 4, generator=generator, dtype=torch.float64)
        y = x.sum(dim=1, keepdim=True).sin()
        rows = slice(rank * SAMPLES_PER_BATCH, (rank + 1) * SAMPLES_PER_BATCH)
        batches.append((x[rows], y[rows]))
    return batches


def _count_ddp_reductions(model: nn.Module) -> list[int]:
    count = [0]

    def counting(state, bucket):  # type: ignore[no-untyped-def]  # DDP refuses string annotations here
        count[0] += 1
        return default_hooks.allreduce_hook(state, bucket)

    model.register_comm_hook(None, counting)  # type: ignore[operator]
    return count


def _count_fsdp_reductions() -> list[int]:
    """Count the calls of the collective FSDP2 reduces gradients with (``_REDUCE_SCATTER``) in this process."""
    count = [0]
    original = _ORIGINAL_REDUCE_SCATTER

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    setattr(dist, _REDUCE_SCATTER, counting)
    return count


def _synced_loop(model: nn.Module, optimizer: Any, batches: list[Any], steps: int, epochs: int, stop: int) -> None:
    """The reference: reduce on every micro-batch; step every `steps`, and on the mean of a left-over window."""
    iteration = 0
    for _ in range(epochs):
        pending = 0
        for x, y in batches:
            iteration += 1
            if pending == 0:
                optimizer.zero_grad()
            (nn.functional.mse_loss(model(x), y) / steps).backward()
            pending += 1
            if pending == steps:
                optimizer.step()
                pending = 0
            if iteration == stop:
                break
        if pending:
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    parameter.grad.mul_(steps / pending)
            optimizer.step()
        if iteration == stop:
            return


def train(
    local_rank: int, strategy: str, reference: bool, steps: int, epochs: int, epoch_length: int, stop: int
) -> dict[str, Any]:
    """Train, and return the full final weights and the number of gradient reductions this rank made."""
    model = idist.auto_model(_model(), strategy=strategy)
    count = _count_ddp_reductions(model) if strategy == "ddp" else _count_fsdp_reductions()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    batches = _batches(epoch_length)
    if reference:
        _synced_loop(model, optimizer, batches, steps, epochs, stop)
    else:
        trainer = create_supervised_trainer(model, optimizer, nn.functional.mse_loss, gradient_accumulation_steps=steps)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=stop), lambda engine: engine.terminate())
        trainer.run(batches, max_epochs=epochs)
    weights = {}
    for name, tensor in model.state_dict().items():
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
        weights[name.removeprefix("module.")] = full.detach().clone()
    return {"weights": weights, "reductions": count[0]}


def compare(local_rank: int, strategy: str, steps: int, epochs: int, epoch_length: int, stop: int) -> dict[str, Any]:
    """ember's trainer, then the synced reference, in the same process group."""
    ember = train(local_rank, strategy, False, steps, epochs, epoch_length, stop)
    if strategy == "fsdp":
        setattr(dist, _REDUCE_SCATTER, _ORIGINAL_REDUCE_SCATTER)
    synced = train(local_rank, strategy, True, steps, epochs, epoch_length, stop)
    return {"ember": ember, "synced": synced}


def fsdp_stopped_mid_window(local_rank: int) -> dict[str, Any]:
    """FSDP, terminate() after 2 batches of the second window: the warning, and the synced run that stopped before it."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ember = train(local_rank, "fsdp", False, 4, 1, 8, 6)
    setattr(dist, _REDUCE_SCATTER, _ORIGINAL_REDUCE_SCATTER)
    synced = train(local_rank, "fsdp", True, 4, 1, 8, 4)
    return {"ember": ember, "synced": synced, "warnings": [str(warning.message) for warning in caught]}
