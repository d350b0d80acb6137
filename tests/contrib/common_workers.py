"""Run in each of 2 gloo ranks: ignite's and ember's setup_common_training_handlers on the same program."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def _program(library: Any, common: Any, folder: Path, rank: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    torch.manual_seed(rank)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = TensorDataset(torch.arange(20.0).unsqueeze(1).repeat(1, 3), torch.arange(20.0).unsqueeze(1))
    sampler: Any = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=7)
    loader = DataLoader(data, batch_size=2, sampler=sampler)

    def step(engine: Any, batch: Any) -> dict[str, Any]:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch[0] / 20), batch[1] / 20)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "first": int(batch[1][0].item())}

    trainer = library.engine.Engine(step)
    common.setup_common_distrib_training_handlers(
        trainer,
        train_sampler=sampler,
        to_save={"model": model},
        save_every_iters=4,
        output_path=str(folder),
        output_names=["loss"],
        with_pbars=False,
        n_saved=2,
    )
    seen: list[Any] = []
    trainer.add_event_handler(
        library.engine.Events.ITERATION_COMPLETED,
        lambda engine: seen.append((engine.state.output["first"], round(engine.state.metrics["loss"], 10))),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run(loader, max_epochs=3)
    files = sorted(path.name for path in folder.iterdir()) if folder.exists() else []
    return {"seen": seen, "files": files, "sampler_epoch": sampler.epoch}


def run_both(local_rank: int, folder: str) -> dict[str, Any]:
    import ignite.contrib.engines.common
    import ignite.engine

    import ember.contrib.engines.common
    import ember.distributed as idist
    import ember.engine

    rank = idist.get_rank()
    results = {}
    for name, library, common in (
        ("ignite", ignite, ignite.contrib.engines.common),
        ("ember", ember, ember.contrib.engines.common),
    ):
        results[name] = _program(library, common, Path(folder) / name, rank)
        idist.barrier()
    return results
