"""A small training run with CSV and JSONL loggers that the logger kill test starts as a real subprocess.

Usage: python logger_training_script.py FOLDER [--epochs N] [--every K] [--sleep SECONDS]

It resumes from the newest checkpoint in ``FOLDER/checkpoints`` (the documented
``resume_from_latest``), logs the training loss at every iteration, the epoch's mean loss at each
epoch end and an evaluator's metric at the trainer's epoch to ``FOLDER/log.csv`` and
``FOLDER/log.jsonl``, checkpoints every K iterations, and prints ``ready`` then ``iteration N``
after each iteration.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ember import Engine, Events
from ember.data import ResumableLoader
from ember.handlers import Checkpoint, CSVLogger, DiskSaver, JSONLLogger, global_step_from_engine, resume_from_latest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    folder = Path(args.folder)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1234)
    dataset = torch.utils.data.TensorDataset(
        torch.randn(40, 4, generator=generator), torch.randn(40, 1, generator=generator)
    )
    loader = ResumableLoader(dataset, batch_size=4, shuffle=True, seed=7)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def step(engine: Engine, batch: list[torch.Tensor]) -> float:
        features, target = batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features), target)
        loss.backward()
        optimizer.step()
        if args.sleep:
            time.sleep(args.sleep)
        return loss.item()

    trainer = Engine(step)
    evaluator = Engine(lambda engine, batch: None)

    @evaluator.on(Events.COMPLETED)
    def weight_norm(engine: Engine) -> None:
        engine.state.metrics["weight_norm"] = float(model.weight.detach().norm())

    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: evaluator.run([0]))
    loggers = [CSVLogger(folder / "log.csv"), JSONLLogger(folder / "log.jsonl")]
    for logger in loggers:  # attached before the checkpoint: a checkpoint's own rows are written before it
        logger.attach_output_handler(
            trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda loss: {"loss": loss}
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names=["weight_norm"],
            global_step_transform=global_step_from_engine(trainer),
        )
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "data": loader}
    checkpoint = Checkpoint(to_save, DiskSaver(folder / "checkpoints", require_empty=False), n_saved=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=args.every), checkpoint)

    @trainer.on(Events.ITERATION_COMPLETED)
    def report(engine: Engine) -> None:
        print(f"iteration {engine.state.iteration}", flush=True)

    resume_from_latest(to_save, folder / "checkpoints")
    print("ready", flush=True)
    trainer.run(loader, max_epochs=args.epochs)
    for logger in loggers:
        logger.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
