"""Train a small classifier on scikit-learn's handwritten digits, end to end, with every piece of ember.

Run it with ``python -m ember.examples.digits`` (or ``make demo``). The run shows:

- a trainer and an evaluator built by the supervised factories, with ember metrics;
- validation after every epoch, a cosine learning-rate schedule, early stopping;
- checkpoints every epoch (the last two kept, plus the best by validation accuracy), a
  ``SIGTERM`` handler that checkpoints and exits with status 75, and automatic resume: run the
  same command again with the same ``--output-dir`` and it continues where it stopped (a run that
  early stopping ended stays ended);
- a progress bar when the output is a terminal.

Options: ``--epochs``, ``--batch-size``, ``--lr``, ``--seed``, ``--output-dir`` (by default a
temporary folder, removed at the end), ``--patience``.

The data (1,797 8x8 images, shipped with scikit-learn) is split 80/20 with a fixed seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ember.data import ResumableLoader
from ember.engine import Engine, Events, create_supervised_evaluator, create_supervised_trainer
from ember.handlers import (
    Checkpoint,
    DiskSaver,
    EarlyStopping,
    LRScheduler,
    PreemptionHandler,
    ProgressBar,
    RNGStates,
    resume_from_latest,
)
from ember.metrics import Accuracy, Loss


def load_data(batch_size: int, seed: int) -> tuple[ResumableLoader, DataLoader[tuple[torch.Tensor, ...]]]:
    """The digits as (train, validation) loaders; pixels scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit("This example needs scikit-learn: pip install 'ember[examples]'") from error
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(labels))
    train, validation = order[:split], order[split:]
    # A ResumableLoader's shuffle depends only on (seed, pass), so a resumed run sees the same batches.
    train_loader = ResumableLoader(TensorDataset(images[train], labels[train]), batch_size, shuffle=True, seed=seed)
    validation_loader = DataLoader(TensorDataset(images[validation], labels[validation]), batch_size=256)
    return train_loader, validation_loader


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))


def train(args: argparse.Namespace, output_dir: Path, *, keep: bool = True) -> dict[str, float]:
    """One run (new or resumed) in ``output_dir``; returns the last validation metrics.

    ``keep=False`` says that ``output_dir`` is removed after the run, so the closing line does not point to it.
    """
    torch.manual_seed(args.seed)
    train_loader, validation_loader = load_data(args.batch_size, args.seed)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    trainer = create_supervised_trainer(model, optimizer, loss_fn)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(), "loss": Loss(loss_fn)})

    if sys.stdout.isatty():
        # attached first, so each epoch's bar is closed before the epoch's line below is printed
        ProgressBar(persist=False).attach(trainer)

    scheduler = LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs), optimizer)
    scheduler.attach(trainer, Events.EPOCH_COMPLETED)

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        metrics = evaluator.run(validation_loader).metrics
        print(
            f"epoch {engine.state.epoch:2d}  train loss {engine.state.output:.4f}  "
            f"validation loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.3f}  "
            f"lr {optimizer.param_groups[0]['lr']:.4f}"
        )

    def validation_accuracy(engine: Engine) -> float:
        return float(evaluator.state.metrics["accuracy"])

    early_stopping = EarlyStopping(args.patience, validation_accuracy, trainer).attach(evaluator)

    to_save = {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "trainer": trainer,
        "train_data": train_loader,
        "early_stopping": early_stopping,
        "rng": RNGStates(),
    }
    last = Checkpoint(to_save, DiskSaver(output_dir / "last", require_empty=False), n_saved=2)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, last)
    best = Checkpoint(
        {"model": model},
        DiskSaver(output_dir / "best", require_empty=False),
        filename_prefix="best",
        score_function=validation_accuracy,
        score_name="accuracy",
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, best)
    PreemptionHandler(last).attach(trainer)

    resumed_from = resume_from_latest(to_save, output_dir / "last")
    # the engine's state does not say that early stopping ended the run; the stopper's own state does
    stopped_early = early_stopping.patience.counter >= early_stopping.patience.patience
    if resumed_from is not None:
        print(f"resuming from {resumed_from} (epoch {trainer.state.epoch}, iteration {trainer.state.iteration})")
    if stopped_early:
        print("this run had stopped early: nothing left to train")
    else:
        trainer.run(train_loader, max_epochs=args.epochs)
    final = evaluator.run(validation_loader).metrics
    where = f"checkpoints in {output_dir}" if keep else "pass --output-dir to keep the checkpoints"
    print(f"done at epoch {trainer.state.epoch}: validation accuracy {final['accuracy']:.3f}; {where}")
    return {name: float(value) for name, value in final.items()}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Parse the options, train, and return the final validation metrics."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=4, help="epochs without a better validation accuracy")
    parser.add_argument("--output-dir", type=Path, default=None, help="keep checkpoints here (resumes if present)")
    args = parser.parse_args(argv)
    if args.output_dir is not None:
        return train(args, args.output_dir)
    with tempfile.TemporaryDirectory(prefix="ember-digits-") as folder:
        return train(args, Path(folder), keep=False)


if __name__ == "__main__":
    main()
