"""A tiny training run that the kill and SIGTERM tests start as a real subprocess.

Usage: python train_for_kill_test.py CHECKPOINT_FOLDER FINAL_WEIGHTS_FILE [--epochs N] [--every K]
[--sleep SECONDS] [--asynchronous] [--num-workers N]

It resumes from the newest valid checkpoint in the folder (or starts fresh), checkpoints every K
iterations, prints ``ready`` once training is about to start and ``iteration N`` after each
iteration, and writes the final model weights when the run completes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy
import torch

from ember import Engine, Events
from ember.data import ResumableLoader
from ember.handlers import Checkpoint, DiskSaver, PreemptionHandler, RNGStates, resume_from_latest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("final")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--asynchronous", action="store_true")
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    random.seed(0)
    numpy.random.seed(0)
    torch.manual_seed(0)
    data_generator = torch.Generator().manual_seed(1234)
    inputs = torch.randn(96, 16, generator=data_generator)
    targets = torch.randn(96, 1, generator=data_generator)
    dataset = torch.utils.data.TensorDataset(inputs, targets)
    loader = ResumableLoader(dataset, batch_size=4, shuffle=True, seed=7, num_workers=args.num_workers)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(256, 1)
    )
    # a 4 MB buffer makes each checkpoint write take most of an iteration's time: kills land inside writes
    model.register_buffer("ballast", torch.arange(1_000_000, dtype=torch.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step(engine: Engine, batch: list[torch.Tensor]) -> float:
        features, target = batch
        optimizer.zero_grad()
        # noise from all three generators, so a resume that restores any of them wrongly shows up
        noise = torch.randn(1).item() * 1e-3 + random.random() * 1e-3 + float(numpy.random.rand()) * 1e-3
        loss = torch.nn.functional.mse_loss(model(features), target) + noise
        loss.backward()
        optimizer.step()
        if args.sleep:
            time.sleep(args.sleep)
        return loss.item()

    trainer = Engine(step)
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "data": loader, "rng": RNGStates()}
    saver = DiskSaver(args.folder, require_empty=False, asynchronous=args.asynchronous)
    checkpoint = Checkpoint(to_save, saver, n_saved=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=args.every), checkpoint)
    PreemptionHandler(checkpoint).attach(trainer)

    @trainer.on(Events.ITERATION_COMPLETED)
    def report(engine: Engine) -> None:
        print(f"iteration {engine.state.iteration}", flush=True)

    resume_from_latest(to_save, args.folder)
    print("ready", flush=True)
    trainer.run(loader, max_epochs=args.epochs)
    torch.save(model.state_dict(), args.final)
    sys.exit(0)


if __name__ == "__main__":
    main()
