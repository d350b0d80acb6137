"""Train a small classifier on scikit-learn's handwritten digits, end to end, with every piece of ember.

Run it with ``python -m ember.examples.digits`` (or ``make demo``). Each epoch prints the mean
training loss, the validation accuracy and loss, the learning rate and the time taken; at the end
it says why the run stopped and where everything was written. The output folder
(``runs/digits-<date>-<time>`` by default) gets:

- ``metrics.csv``: one row per logged event (per-epoch values and the loss every 10 iterations);
- ``curves.png``: those curves, drawn when the run ends;
- ``tensorboard/``: the same values for ``tensorboard --logdir``;
- ``checkpoints/last`` (the last two epochs, for resuming) and ``checkpoints/best`` (the best model);
- ``config.json``: the options of the run.

Resume with ``--resume`` (the newest ``runs/digits-*`` folder, or ``--output-dir``): the run
continues exactly where its last checkpoint left it, also after ``SIGTERM`` in the middle of an
epoch (the run checkpoints and exits with status 75). A larger ``--epochs`` trains on, with the
cosine schedule rebuilt for the new length; a different ``--batch-size``, ``--lr``, ``--seed`` or
``--amp`` is refused, since the saved run cannot continue with them. ``--patience`` is kept with
the run: a run ended by early stopping stays ended (unless resumed with a larger ``--patience``).
A new run needs a folder of its own: one that holds another run's files is refused.

Under ``torchrun --nproc_per_node=2 -m ember.examples.digits`` the processes form one job: each
trains on its share of the data (the gradients are averaged), rank 0 prints and writes.

The data (1,797 8x8 images, shipped with scikit-learn) is split 80/20 with the seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ember import distributed as idist
from ember.data import ResumableLoader
from ember.engine import Engine, Events, create_supervised_evaluator, create_supervised_trainer
from ember.handlers import (
    Checkpoint,
    CSVLogger,
    CurvesPlotter,
    DiskSaver,
    EarlyStopping,
    LRScheduler,
    PreemptionHandler,
    ProgressBar,
    RNGStates,
    TensorBoardLogger,
    TimeLimit,
    find_latest_checkpoint,
    global_step_from_engine,
    resume_from_latest,
)
from ember.metrics import Accuracy, Average, Loss

#: Options a resumed run must keep: the saved model, optimizer and data order depend on them.
FIXED_ON_RESUME = ("batch_size", "lr", "seed", "amp")

#: ``--patience`` of a new run, and of a resumed one whose config.json does not name it.
DEFAULT_PATIENCE = 4


class OptionsError(SystemExit):
    """Options that the run cannot use; exits with status 2 and the message, as argparse does."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def load_data(
    batch_size: int, seed: int, rank: int = 0, world_size: int = 1
) -> tuple[ResumableLoader, DataLoader[tuple[torch.Tensor, ...]]]:
    """The digits as (train, validation) loaders; pixels scaled to [0, 1]; each rank gets its share of training."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit("This example needs scikit-learn: pip install 'ember[examples]'") from error
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(labels))
    train, validation = order[:split][rank::world_size], order[split:]
    # A ResumableLoader's shuffle depends only on (seed, pass), so a resumed run sees the same batches.
    train_loader = ResumableLoader(TensorDataset(images[train], labels[train]), batch_size, shuffle=True, seed=seed)
    validation_loader = DataLoader(TensorDataset(images[validation], labels[validation]), batch_size=256)
    return train_loader, validation_loader


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))


def cosine_factor(epochs_done: int, total_epochs: int) -> float:
    """The learning rate's factor after ``epochs_done`` of ``total_epochs``: from 1 down to 0 along a half cosine."""
    return 0.5 * (1.0 + math.cos(math.pi * min(epochs_done, total_epochs) / total_epochs))


def say(*parts: Any) -> None:
    if idist.get_rank() == 0:
        print(*parts, flush=True)


def check_resumed_options(args: argparse.Namespace, config_path: Path) -> dict[str, Any]:
    """Compare the options with the saved run's; refuse those it cannot continue with. Returns the saved options."""
    if not config_path.exists():
        return {}
    saved: dict[str, Any] = json.loads(config_path.read_text())
    changed = [name for name in FIXED_ON_RESUME if saved.get(name) != getattr(args, name)]
    if changed:
        shown = ", ".join(
            f"--{name.replace('_', '-')} {saved.get(name)} (now {getattr(args, name)})" for name in changed
        )
        raise OptionsError(
            f"The run in {config_path.parent} was started with {shown}, and cannot continue with other values: "
            "its model, optimizer and data order depend on them. Resume with the saved values, or start a new run "
            "with another --output-dir."
        )
    return saved


def check_output_dir(args: argparse.Namespace, output_dir: Path) -> None:
    """Refuse a new run in a folder that holds files, and a resume from a folder without a checkpoint.

    Rank 0 looks; every rank gets its answer, so all of them stop or go on together.
    """
    found: tuple[list[str], bool] = ([], False)
    if idist.get_rank() == 0 and output_dir.is_dir():
        found = (
            sorted(path.name for path in output_dir.iterdir()),
            find_latest_checkpoint(output_dir / "checkpoints" / "last") is not None,
        )
    held, has_checkpoint = idist.broadcast_object(found)
    shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
    if args.resume and not has_checkpoint:
        if not held:
            raise OptionsError(
                f"--resume: {output_dir} holds no run to resume. Run without --resume to start a new run there."
            )
        raise OptionsError(
            f"--resume: {output_dir} holds no checkpoint to resume from (it holds {shown}: a run that stopped before "
            "its first epoch ended, or another program's files). Start a new run with another --output-dir, or "
            f"empty {output_dir} first."
        )
    if not args.resume and has_checkpoint:
        raise OptionsError(
            f"{output_dir} already holds a run. Pass --resume to continue it, or another --output-dir to start anew."
        )
    if not args.resume and held:
        raise OptionsError(
            f"{output_dir} already holds files ({shown}) but no checkpoint to resume from: another run's, or one "
            "that stopped before its first epoch ended. A new run there would mix its logs with them. Pass another "
            f"--output-dir, or empty {output_dir} first."
        )


def settle_patience(args: argparse.Namespace, saved_patience: int | None) -> None:
    """Early stopping's patience: the one given, or a resumed run's own (or the default for a new run)."""
    if args.patience is None:
        # a resumed run keeps its patience: an early-stopped run stays stopped without --patience again
        args.patience = saved_patience if saved_patience is not None else DEFAULT_PATIENCE
    elif saved_patience is not None and args.patience != saved_patience:
        say(f"early stopping's patience is now {args.patience} (the run was started with {saved_patience})")


def attach_logs(
    output_dir: Path, trainer: Engine, evaluator: Engine, optimizer: torch.optim.Optimizer
) -> tuple[TensorBoardLogger, CSVLogger]:
    """TensorBoard and CSV logs of the same values; rank 0 writes, other ranks attach nothing."""
    tensorboard = TensorBoardLogger(log_dir=output_dir / "tensorboard")
    csv_logger = CSVLogger(output_dir / "metrics.csv")
    for logger in (tensorboard, csv_logger):
        logger.attach_output_handler(
            trainer,
            Events.ITERATION_COMPLETED(every=10),
            tag="train",
            output_transform=lambda loss: {"batch_loss": loss},
        )
        logger.attach_output_handler(trainer, Events.EPOCH_COMPLETED, tag="train", metric_names=["loss"])
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="validation",
            metric_names=["accuracy", "loss"],
            global_step_transform=global_step_from_engine(trainer),
        )
        logger.attach_opt_params_handler(trainer, Events.EPOCH_STARTED, optimizer)
    return tensorboard, csv_logger


def resume(
    args: argparse.Namespace,
    to_save: dict[str, Any],
    output_dir: Path,
    cosine: torch.optim.lr_scheduler.LambdaLR,
    saved_epochs: int | None,
) -> None:
    """Load the newest checkpoint of ``output_dir`` into ``to_save`` and fit the schedule to a new --epochs."""
    trainer, optimizer = to_save["trainer"], to_save["optimizer"]
    resumed_from = resume_from_latest(to_save, output_dir / "checkpoints" / "last")
    if resumed_from is None:  # checked by check_output_dir; the file may have gone since
        raise OptionsError(f"--resume: {output_dir} holds no checkpoint to resume from any more.")
    say(f"resuming {output_dir} from {resumed_from.name} (epoch {trainer.state.epoch})")
    if args.epochs < trainer.state.epoch:
        raise OptionsError(
            f"--epochs {args.epochs} is less than the {trainer.state.epoch} epochs this run has trained. "
            f"Pass --epochs {trainer.state.epoch} or more."
        )
    if saved_epochs is not None and saved_epochs != args.epochs:
        # the LambdaLR reads args.epochs; set the lr of the coming epoch on the new cosine now
        for group, base_lr in zip(optimizer.param_groups, cosine.base_lrs):
            group["lr"] = base_lr * cosine_factor(trainer.state.epoch, args.epochs)
        say(
            f"training to {args.epochs} epochs instead of {saved_epochs}: the cosine schedule is rebuilt for "
            f"{args.epochs} epochs (lr now {optimizer.param_groups[0]['lr']:.4f})"
        )


def train(args: argparse.Namespace, output_dir: Path) -> dict[str, Any]:
    """One run (new or resumed) in ``output_dir``; returns the final validation metrics and why the run stopped."""
    rank, world_size = idist.get_rank(), idist.get_world_size()
    config_path = output_dir / "config.json"
    check_output_dir(args, output_dir)
    saved_options = check_resumed_options(args, config_path) if args.resume else {}
    saved_epochs = saved_options.get("epochs")
    settle_patience(args, saved_options.get("patience"))

    torch.manual_seed(args.seed)
    train_loader, validation_loader = load_data(args.batch_size, args.seed, rank, world_size)
    model = build_model()
    # wrapped for several processes (DDP averages the gradients); checkpoints hold the unwrapped model
    trained = idist.auto_model(model)
    optimizer = torch.optim.SGD(trained.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    amp_dtype = torch.bfloat16 if args.amp == "bf16" else None
    trainer = create_supervised_trainer(trained, optimizer, loss_fn, amp_dtype=amp_dtype)

    def build_evaluator() -> Engine:
        metrics = {"accuracy": Accuracy(), "loss": Loss(loss_fn)}
        return create_supervised_evaluator(model, metrics=metrics, amp_dtype=amp_dtype)

    evaluator = build_evaluator()
    # the epoch's mean training loss (the output of each iteration is that batch's loss); it is in the
    # checkpoint, so an epoch resumed in its middle reports the mean over all its iterations
    train_loss = Average()
    train_loss.attach(trainer, "loss")

    if sys.stdout.isatty() and rank == 0:
        # attached first, so each epoch's bar is closed before the epoch's line below is printed
        ProgressBar(persist=False).attach(trainer)

    # a closed-form cosine: the schedule depends only on (epochs done, args.epochs), so a resumed
    # run with a new --epochs follows the cosine of the new length from where it is
    cosine = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: cosine_factor(epoch, args.epochs))
    scheduler = LRScheduler(cosine, optimizer)

    trainer.state.best_epoch = 0  # type: ignore[attr-defined]  # saved with the trainer's state, below
    trainer.state_dict_user_keys.append("best_epoch")
    started = [0.0]
    # STARTED too: an epoch resumed in its middle gets no EPOCH_STARTED; its time is then this process's part
    trainer.add_event_handler(Events.STARTED, lambda: started.__setitem__(0, time.perf_counter()))
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda: started.__setitem__(0, time.perf_counter()))

    def validation_accuracy(engine: Engine) -> float:
        return float(evaluator.state.metrics["accuracy"])

    early_stopping = EarlyStopping(args.patience, validation_accuracy, trainer)

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        lr = optimizer.param_groups[0]["lr"]
        metrics = evaluator.run(validation_loader).metrics  # early stopping sees the score here
        if early_stopping.decision.improved:
            engine.state.best_epoch = engine.state.epoch  # type: ignore[attr-defined]
        say(
            f"epoch {engine.state.epoch:2d}/{engine.state.max_epochs}  "
            f"train loss {engine.state.metrics['loss']:.4f}  "
            f"validation accuracy {metrics['accuracy']:.4f}  loss {metrics['loss']:.4f}  "
            f"lr {lr:.4f}  {time.perf_counter() - started[0]:.1f}s"
        )

    # add_event_handler rather than attach(): nothing resets the handler, so the scores and count loaded
    # from a checkpoint survive the resumed run's STARTED (attach without reset_engine would warn)
    evaluator.add_event_handler(Events.COMPLETED, early_stopping)
    # after validate, so that the epoch's line shows the learning rate the epoch trained with
    scheduler.attach(trainer, Events.EPOCH_COMPLETED)
    if args.time_limit:
        TimeLimit(args.time_limit).attach(trainer)

    tensorboard, csv_logger = attach_logs(output_dir, trainer, evaluator, optimizer)
    plotter = CurvesPlotter(csv_logger, output_dir / "curves.png", title=f"digits ({output_dir.name})")
    plotter.attach(trainer)

    to_save = {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "trainer": trainer,
        "train_data": train_loader,
        "train_loss": train_loss,
        "early_stopping": early_stopping,
        "rng": RNGStates(),
    }
    last = Checkpoint(to_save, DiskSaver(output_dir / "checkpoints" / "last", require_empty=False), n_saved=2)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, last)
    best = Checkpoint(
        {"model": model},
        DiskSaver(output_dir / "checkpoints" / "best", require_empty=False),
        filename_prefix="best",
        score_function=validation_accuracy,
        score_name="accuracy",
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, best)
    preemption = PreemptionHandler(last)
    preemption.attach(trainer)

    if args.resume:
        resume(args, to_save, output_dir, cosine, saved_epochs)
    if rank == 0:
        kept = (*FIXED_ON_RESUME, "epochs", "patience")
        config_path.write_text(json.dumps({name: getattr(args, name) for name in kept}))

    stopped_early = early_stopping.counter >= early_stopping.patience
    finished = trainer.state.iteration >= args.epochs * len(train_loader)  # a resumed run that has nothing left
    reason = ""
    try:
        if not stopped_early and not finished:
            trainer.run(train_loader, max_epochs=args.epochs)
            stopped_early = early_stopping.counter >= early_stopping.patience
    except SystemExit:
        if preemption.preempted:
            say(f"stopped: preempted at epoch {trainer.state.epoch}, iteration {trainer.state.iteration}")
            say(f"checkpoint written to {output_dir / 'checkpoints' / 'last'}; continue with --resume")
        raise
    finally:
        tensorboard.close()
        csv_logger.close()
    if stopped_early:
        best_epoch = trainer.state.best_epoch  # type: ignore[attr-defined]
        reason = (
            f"early stopping at epoch {trainer.state.epoch}: no better validation accuracy for {args.patience} "
            f"epochs (best {early_stopping.best_score:.4f} at epoch {best_epoch})"
        )
    elif trainer.state.epoch >= args.epochs:
        reason = f"reached --epochs {args.epochs}"
    elif args.time_limit:
        reason = f"time limit of {args.time_limit:g}s reached at epoch {trainer.state.epoch}"
    else:
        reason = f"ended at epoch {trainer.state.epoch}"
    # a fresh evaluator: the loggers are closed, and the final check is not an epoch's validation
    final = build_evaluator().run(validation_loader).metrics
    say(f"stopped: {reason}")
    say(f"final validation accuracy {final['accuracy']:.4f}, loss {final['loss']:.4f}")
    say(f"written to {output_dir}:")
    say("  metrics.csv          the logged values (pandas.read_csv)")
    say("  curves.png           loss, accuracy and learning rate curves")
    say(f"  tensorboard/         tensorboard --logdir {output_dir / 'tensorboard'}")
    say("  checkpoints/last     the last two epochs (python -m ember.examples.digits --resume ...)")
    say("  checkpoints/best     the model with the best validation accuracy")
    return {
        "accuracy": float(final["accuracy"]),
        "loss": float(final["loss"]),
        "epoch": trainer.state.epoch,
        "reason": reason,
    }


def newest_run(root: Path) -> Path:
    runs = sorted(root.glob("digits-*"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise OptionsError(
            f"--resume: there is no run in {root}/ to resume. Pass --output-dir, or run without --resume."
        )
    return runs[-1]


def new_run_folder(root: Path) -> Path:
    """``root/digits-<date>-<time>``, with a suffix when a run started in the same second took that name."""
    name = time.strftime("digits-%Y%m%d-%H%M%S")
    folder, suffix = root / name, 2
    while folder.exists():
        folder, suffix = root / f"{name}-{suffix}", suffix + 1
    return folder


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(
        prog="python -m ember.examples.digits",
        description=__doc__,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, max_help_position=32),
    )
    options.add_argument("--epochs", type=int, default=15, help="epochs to train (default: %(default)s)")
    options.add_argument("--batch-size", type=int, default=32, help="training batch size (default: %(default)s)")
    options.add_argument("--lr", type=float, default=0.05, help="initial learning rate (default: %(default)s)")
    options.add_argument("--seed", type=int, default=0, help="seed for the split, the model and the order (default: 0)")
    options.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"epochs without a better validation accuracy (default: {DEFAULT_PATIENCE}; a resumed run keeps its own)",
    )
    options.add_argument(
        "--time-limit", type=float, default=None, help="stop after this many seconds (default: no limit)"
    )
    options.add_argument(
        "--amp", choices=["off", "bf16"], default="off", help="bfloat16 autocast of the forward pass (default: off)"
    )
    options.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where logs and checkpoints go (default: runs/digits-<date>-<time>)",
    )
    options.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output-dir (default: the newest runs/digits-* folder)",
    )
    return options


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the options, train (under torchrun: as one job of all processes), and return the final results."""
    options = parser()
    args = options.parse_args(argv)
    # a model this small trains fastest on one thread: more threads only add hand-over costs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for name in ("epochs", "batch_size", "patience"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            options.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}.")
    if args.lr <= 0:
        options.error(f"--lr must be positive, got {args.lr}.")
    launched = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not idist.is_distributed()
    if launched:
        idist.initialize("gloo")
    try:
        output_dir = args.output_dir
        if output_dir is None:
            output_dir = newest_run(Path("runs")) if args.resume else new_run_folder(Path("runs"))
            output_dir = idist.broadcast_object(output_dir)  # one folder for the whole job
        return train(args, output_dir)
    except OptionsError as error:
        options.error(error.message)
        raise  # pragma: no cover - options.error exits
    finally:
        torch.set_num_threads(threads)
        if launched:
            idist.finalize()


if __name__ == "__main__":
    main()
