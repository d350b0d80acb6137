"""Train a small classifier on scikit-learn's handwritten digits, end to end.

Run it with ``python -m ember.examples.digits`` (or ``make demo``). It shows a complete run:
a trainer and an evaluator built by the supervised factories, validation after every epoch,
and a final report. Options: ``--epochs``, ``--batch-size``, ``--lr``, ``--seed``.

The data (1,797 8x8 images, shipped with scikit-learn) is split 80/20 with a fixed seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ember.engine import Engine, Events, create_supervised_evaluator, create_supervised_trainer


def load_data(
    batch_size: int, seed: int
) -> tuple[DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]]]:
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
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        TensorDataset(images[train], labels[train]), batch_size=batch_size, shuffle=True, generator=generator
    )
    validation_loader = DataLoader(TensorDataset(images[validation], labels[validation]), batch_size=256)
    return train_loader, validation_loader


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))


def accuracy(evaluator: Engine, loader: DataLoader[tuple[torch.Tensor, ...]]) -> float:
    correct = total = 0

    def count(engine: Engine) -> None:
        nonlocal correct, total
        y_pred, y = engine.state.output
        correct += int((y_pred.argmax(dim=1) == y).sum())
        total += len(y)

    with evaluator.add_event_handler(Events.ITERATION_COMPLETED, count):
        evaluator.run(loader)
    return correct / total


def main(argv: Sequence[str] | None = None) -> float:
    """Train, validate each epoch, and return the final validation accuracy."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    train_loader, validation_loader = load_data(args.batch_size, args.seed)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
    evaluator = create_supervised_evaluator(model)
    history: list[float] = []

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        history.append(accuracy(evaluator, validation_loader))
        print(f"epoch {engine.state.epoch:2d}  loss {engine.state.output:.4f}  validation accuracy {history[-1]:.3f}")

    trainer.run(train_loader, max_epochs=args.epochs)
    print(f"done: {trainer.state.iteration} iterations in {trainer.state.times['COMPLETED']:.1f} s")
    return history[-1]


if __name__ == "__main__":
    main()
