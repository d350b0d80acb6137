"""Run in each of 2 gloo ranks: the indices each epoch of ignite's and ember's auto_dataloader visits."""

from __future__ import annotations

from typing import Any

_ATTRIBUTES = ("num_replicas", "rank", "shuffle", "seed", "drop_last", "total_size", "num_samples")


def _visited(engine_class: Any, events: Any, loader: Any, epochs: int, set_epoch: bool) -> list[list[int]]:
    seen: list[tuple[int, list[int]]] = []
    engine = engine_class(lambda engine, batch: seen.append((engine.state.epoch, batch.tolist())))
    if set_epoch:  # the pattern of ignite's distributed examples: reshuffle every epoch by hand

        @engine.on(events.EPOCH_STARTED)
        def reshuffle(engine: Any) -> None:
            loader.sampler.set_epoch(engine.state.epoch - 1)

    engine.run(loader, max_epochs=epochs)
    return [[index for epoch, batch in seen if epoch == wanted for index in batch] for wanted in range(1, epochs + 1)]


def orders(local_rank: int, size: int, batch_size: int, epochs: int, options: dict[str, Any]) -> dict[str, Any]:
    """For ignite and ember: the sampler's class chain and attributes, and the indices of each epoch."""
    import ignite.distributed as ignite_idist
    import ignite.engine as ignite_engine
    from torch.utils.data import DistributedSampler

    import ember
    import ember.distributed as idist

    result: dict[str, Any] = {}
    for name, auto_dataloader, engine_class, events in (
        ("ignite", ignite_idist.auto_dataloader, ignite_engine.Engine, ignite_engine.Events),
        ("ember", idist.auto_dataloader, ember.Engine, ember.Events),
    ):
        for set_epoch in (False, True):
            loader = auto_dataloader(list(range(size)), batch_size=batch_size, **options)
            sampler = loader.sampler
            result[name, set_epoch] = {
                "distributed_sampler": isinstance(sampler, DistributedSampler),
                "attributes": {attribute: getattr(sampler, attribute) for attribute in _ATTRIBUTES},
                "epochs": _visited(engine_class, events, loader, epochs, set_epoch),
                "len": len(loader),
            }
    return result
