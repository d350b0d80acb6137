"""Checkpoint, ModelCheckpoint, DiskSaver, loading and the latest-valid finder."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy
import pytest
import torch

from ember import Engine, Events
from ember.handlers import (
    Checkpoint,
    CorruptCheckpointError,
    DiskSaver,
    ModelCheckpoint,
    RNGStates,
    find_latest_checkpoint,
    load_checkpoint,
    resume_from_latest,
)
from ember.metrics import Average


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def idle_trainer() -> Engine:
    return Engine(lambda engine, batch: batch)


def test_keeps_the_last_n_saved(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"model": torch.nn.Linear(2, 2), "trainer": trainer}, tmp_path, n_saved=3)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=2), checkpoint)
    trainer.run(range(10), max_epochs=2)
    assert names(tmp_path) == ["checkpoint_16.pt", "checkpoint_18.pt", "checkpoint_20.pt"]
    assert checkpoint.last_checkpoint == tmp_path / "checkpoint_20.pt"


def test_keeps_the_best_by_score_with_the_score_in_the_name(tmp_path: Path) -> None:
    """As in ignite, a score without a global_step_transform names the file without a step."""
    scores = iter([0.5, 0.9, 0.1, 0.7, 0.95])
    trainer = idle_trainer()
    checkpoint = Checkpoint(
        {"model": torch.nn.Linear(1, 1)},
        tmp_path,
        filename_prefix="best",
        score_function=lambda engine: next(scores),
        score_name="acc",
        n_saved=2,
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=5)
    assert names(tmp_path) == ["best_model_acc=0.9000.pt", "best_model_acc=0.9500.pt"]


def test_a_one_element_tensor_score_is_a_number(tmp_path: Path) -> None:
    """A score read from a tensor metric works as it does for EarlyStopping and LRScheduler."""
    scores = iter([torch.tensor(0.25), torch.tensor([0.75])])
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, tmp_path, score_function=lambda engine: next(scores))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=2)
    assert names(tmp_path) == ["trainer_0.7500.pt"]


def test_global_step_transform_names_the_file(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint(
        {"model": torch.nn.Linear(1, 1)},
        tmp_path,
        global_step_transform=lambda engine, event: engine.state.epoch * 1000,
        n_saved=None,
    )
    checkpoint.attach(trainer, Events.EPOCH_COMPLETED)
    trainer.run([0, 0], max_epochs=2)
    assert names(tmp_path) == ["model_1000.pt", "model_2000.pt"]


def test_the_same_step_is_saved_once(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, tmp_path, n_saved=None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.add_event_handler(Events.COMPLETED, checkpoint)
    trainer.run([0, 0], max_epochs=1)
    assert names(tmp_path) == ["trainer_2.pt"]


def test_round_trip_restores_every_object(tmp_path: Path) -> None:
    """Model, optimizer, scheduler, GradScaler, engine and metric come back equal to what was saved."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=128.0)
    average = Average()

    def step(engine: Engine, batch: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = model(batch).pow(2).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss.detach()

    trainer = Engine(step)
    average.attach(trainer, "loss")
    to_save = {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
        "trainer": trainer,
        "average": average,
    }
    checkpoint = Checkpoint(to_save, tmp_path)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=3), checkpoint)
    trainer.run([torch.randn(4, 3) for _ in range(5)], max_epochs=1)
    saved = load_checkpoint(tmp_path / "checkpoint_3.pt")

    fresh_model = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.SGD(fresh_model.parameters(), lr=0.1, momentum=0.9)
    fresh_scheduler = torch.optim.lr_scheduler.StepLR(fresh_optimizer, step_size=2, gamma=0.5)
    fresh_scaler = torch.amp.GradScaler("cpu")
    fresh_trainer = idle_trainer()
    fresh_average = Average()
    to_load = {
        "model": fresh_model,
        "optimizer": fresh_optimizer,
        "scheduler": fresh_scheduler,
        "scaler": fresh_scaler,
        "trainer": fresh_trainer,
        "average": fresh_average,
    }
    Checkpoint.load_objects(to_load, tmp_path / "checkpoint_3.pt")
    for key, value in fresh_model.state_dict().items():
        assert torch.equal(value, saved["model"][key])
    assert fresh_scheduler.last_epoch == 3
    assert fresh_scaler.get_scale() == 128.0
    assert fresh_trainer.state.iteration == 3 and fresh_trainer.state.epoch == 1
    momentum = fresh_optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, saved["optimizer"]["state"][0]["momentum_buffer"])
    assert fresh_average.state_dict()["__metric_state_per_rank"][0]["_updates"] == 3


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    rng = RNGStates()
    Checkpoint({"rng": rng}, tmp_path)(idle_trainer())
    expected = (random.random(), float(numpy.random.rand()), torch.rand(1).item())
    random.random(), numpy.random.rand(), torch.rand(3)  # move every generator on
    Checkpoint.load_objects({"rng": rng}, tmp_path / "rng_0.pt")
    assert (random.random(), float(numpy.random.rand()), torch.rand(1).item()) == expected


def test_loads_with_weights_only_by_default(tmp_path: Path) -> None:
    class Odd:
        def state_dict(self) -> dict[str, Any]:
            return {"thing": Path("x")}  # a pickled object weights_only refuses

    Checkpoint({"odd": Odd()}, tmp_path)(idle_trainer())
    with pytest.raises(RuntimeError, match=r"weights_only=True\) refuses.*pass weights_only=False"):
        load_checkpoint(tmp_path / "odd_0.pt")
    assert load_checkpoint(tmp_path / "odd_0.pt", weights_only=False) == {"thing": Path("x")}


# ------------------------------------------------------------------------------------------ damage


def write_three(folder: Path) -> None:
    saver = DiskSaver(folder)
    for step in (1, 2, 3):
        saver({"model": {"w": torch.full((1000,), float(step))}}, f"checkpoint_{step}.pt")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:5], "truncated"),
        (lambda data: data[:-200] + bytes([data[-200] ^ 0xFF]) + data[-199:], "corrupted"),
        (lambda data: data + b"extra", "the end of its zip archive"),
    ],
    ids=["half", "inside-header", "flipped-byte", "padded"],
)
def test_damaged_files_are_detected_and_skipped(tmp_path: Path, damage: Any, message: str) -> None:
    write_three(tmp_path)
    newest = tmp_path / "checkpoint_3.pt"
    newest.write_bytes(damage(newest.read_bytes()))
    with pytest.raises(CorruptCheckpointError, match=rf"checkpoint_3\.pt.*{message}"):
        load_checkpoint(newest)
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoint_2.pt"
    model = torch.nn.Module()
    model.register_buffer("w", torch.zeros(1000))
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert resume_from_latest({"model": model}, tmp_path) == tmp_path / "checkpoint_2.pt"
    assert torch.equal(model.w, torch.full((1000,), 2.0))


def test_no_valid_checkpoint_means_start_fresh(tmp_path: Path) -> None:
    (tmp_path / "checkpoint_9.pt").write_bytes(b"EMBERCKPT\x01 garbage")
    (tmp_path / ".checkpoint_10.pt.abc.partial").write_bytes(b"half")
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert find_latest_checkpoint(tmp_path) is None
    trainer = idle_trainer()
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert resume_from_latest({"trainer": trainer}, tmp_path) is None
    assert trainer.state.iteration == 0


def test_plain_torch_save_files_load(tmp_path: Path) -> None:
    torch.save({"model": {"w": torch.ones(2)}}, tmp_path / "plain.pt")
    assert torch.equal(load_checkpoint(tmp_path / "plain.pt")["model"]["w"], torch.ones(2))


# ------------------------------------------------------------------------------------------ async


def test_asynchronous_saves_are_durable_when_run_returns(tmp_path: Path) -> None:
    model = torch.nn.Linear(200, 200)
    trainer = idle_trainer()
    checkpoint = Checkpoint({"model": model}, DiskSaver(tmp_path, asynchronous=True), n_saved=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    trainer.run(range(5), max_epochs=1)
    assert names(tmp_path) == ["model_4.pt", "model_5.pt"]
    assert torch.equal(load_checkpoint(tmp_path / "model_5.pt")["weight"], model.weight.detach())


def test_asynchronous_save_copies_before_training_moves_on(tmp_path: Path) -> None:
    """The saved values are those at save time, even though the tensor changes right after."""
    model = torch.nn.Linear(2, 2)
    saver = DiskSaver(tmp_path, asynchronous=True)
    before = model.weight.detach().clone()
    saver({"model": model.state_dict()}, "model_1.pt")
    with torch.no_grad():
        model.weight.add_(1.0)
    saver.wait()
    assert torch.equal(load_checkpoint(tmp_path / "model_1.pt")["model"]["weight"], before)


def test_background_write_error_surfaces_on_the_training_thread(tmp_path: Path) -> None:
    saver = DiskSaver(tmp_path / "sub", asynchronous=True)
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, saver, n_saved=None)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)

    @trainer.on(Events.ITERATION_COMPLETED(once=1))
    def remove_folder() -> None:
        saver.wait()
        for path in (tmp_path / "sub").iterdir():
            path.unlink()
        (tmp_path / "sub").rmdir()

    with pytest.raises(RuntimeError, match=r"failed in the background while writing checkpoint .*trainer_2\.pt"):
        trainer.run(range(3), max_epochs=1)


# ------------------------------------------------------------------------------------------ resume


def test_a_resumed_run_counts_only_its_own_files_towards_n_saved(tmp_path: Path) -> None:
    """As in ignite, a new Checkpoint knows only the files it saved: the earlier process's files stay."""
    first = idle_trainer()
    first.add_event_handler(Events.ITERATION_COMPLETED, Checkpoint({"trainer": first}, tmp_path, n_saved=2))
    first.run(range(4), max_epochs=1)
    second = idle_trainer()
    checkpoint = Checkpoint({"trainer": second}, DiskSaver(tmp_path, require_empty=False), n_saved=2)
    second.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    assert resume_from_latest({"trainer": second}, tmp_path) == tmp_path / "trainer_4.pt"
    second.run(range(4), max_epochs=2)
    assert names(tmp_path) == ["trainer_3.pt", "trainer_4.pt", "trainer_7.pt", "trainer_8.pt"]
    assert checkpoint.last_checkpoint == tmp_path / "trainer_8.pt"


def test_a_resumed_run_that_loads_the_checkpointer_keeps_n_saved_across_processes(tmp_path: Path) -> None:
    """ignite's way to carry n_saved over a resume: include_self=True, and the handler in to_load."""
    first = idle_trainer()
    first.add_event_handler(
        Events.ITERATION_COMPLETED, Checkpoint({"trainer": first}, tmp_path, n_saved=2, include_self=True)
    )
    first.run(range(4), max_epochs=1)
    second = idle_trainer()
    checkpoint = Checkpoint({"trainer": second}, DiskSaver(tmp_path, require_empty=False), n_saved=2, include_self=True)
    second.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    resumed = resume_from_latest({"trainer": second, "checkpointer": checkpoint}, tmp_path)
    assert resumed == tmp_path / "trainer_4.pt"
    second.run(range(4), max_epochs=2)
    assert names(tmp_path) == ["trainer_7.pt", "trainer_8.pt"]


def test_a_resumed_run_rewrites_a_damaged_newer_file_of_the_earlier_process(tmp_path: Path) -> None:
    """A file left by the earlier process at a step the resumed run reaches again is written anew, not trusted."""
    first = idle_trainer()
    first.add_event_handler(Events.ITERATION_COMPLETED(every=3), Checkpoint({"trainer": first}, tmp_path, n_saved=2))
    first.run(range(7), max_epochs=1)
    damaged = tmp_path / "trainer_6.pt"
    damaged.write_bytes(damaged.read_bytes()[:-5])
    second = idle_trainer()
    checkpoint = Checkpoint({"trainer": second}, DiskSaver(tmp_path, require_empty=False), n_saved=2)
    second.add_event_handler(Events.ITERATION_COMPLETED(every=3), checkpoint)
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert resume_from_latest({"trainer": second}, tmp_path) == tmp_path / "trainer_3.pt"
    second.add_event_handler(Events.ITERATION_COMPLETED(once=7), lambda engine: engine.terminate())
    second.run(range(7), max_epochs=2)
    assert names(tmp_path) == ["trainer_3.pt", "trainer_6.pt"]
    assert load_checkpoint(damaged)["iteration"] == 6
    assert find_latest_checkpoint(tmp_path) == damaged


def test_files_already_in_the_folder_are_neither_counted_nor_removed(tmp_path: Path) -> None:
    """As in ignite: another run's files stay, a file of the same name is written over, the new best is last."""
    model = torch.nn.Linear(1, 1)
    first = idle_trainer()
    scores = iter([0.5, 0.9, 0.1])
    keep_all = Checkpoint(
        {"model": model}, tmp_path, score_function=lambda engine: next(scores), score_name="acc", n_saved=None
    )
    first.add_event_handler(Events.EPOCH_COMPLETED, keep_all)
    first.run([0], max_epochs=3)
    assert len(names(tmp_path)) == 3
    second = idle_trainer()
    scores = iter([0.1, 0.2, 0.05])
    keep_one = Checkpoint(
        {"model": model},
        DiskSaver(tmp_path, require_empty=False),
        score_function=lambda engine: next(scores),
        score_name="acc",
        n_saved=1,
    )
    second.add_event_handler(Events.EPOCH_COMPLETED, keep_one)
    second.run([0], max_epochs=3)
    assert names(tmp_path) == ["model_acc=0.2000.pt", "model_acc=0.5000.pt", "model_acc=0.9000.pt"]
    assert keep_one.last_checkpoint == tmp_path / "model_acc=0.2000.pt"


def test_include_self_saves_the_kept_list(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, tmp_path, n_saved=2, include_self=True)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    trainer.run(range(3), max_epochs=1)
    saved = load_checkpoint(tmp_path / "trainer_3.pt")
    assert sorted(saved) == ["checkpointer", "trainer"]  # the handler's state beside the object, not inside it
    kept = saved["checkpointer"]["_saved"]
    assert [filename for _, filename in kept] == ["trainer_2.pt", "trainer_3.pt"]  # as in ignite: itself included
    restored = Checkpoint({"trainer": trainer}, DiskSaver(tmp_path, require_empty=False), n_saved=2)
    restored.load_state_dict(saved["checkpointer"])
    assert restored.last_checkpoint == tmp_path / "trainer_3.pt"


def test_model_checkpoint_takes_to_save_when_attached(tmp_path: Path) -> None:
    trainer = idle_trainer()
    handler = ModelCheckpoint(tmp_path, "run", n_saved=2)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": torch.nn.Linear(1, 1)})
    trainer.run([0, 0], max_epochs=3)
    assert names(tmp_path) == ["run_model_4.pt", "run_model_6.pt"]


def test_model_checkpoint_attach_takes_to_save(tmp_path: Path) -> None:
    """ModelCheckpoint.attach(engine, event, to_save) wires it; a call without to_save reuses those objects."""
    trainer = idle_trainer()
    model = torch.nn.Linear(1, 1)
    handler = ModelCheckpoint(tmp_path, "run", n_saved=None)
    handler.attach(trainer, Events.EPOCH_COMPLETED, {"model": model})
    trainer.run([0, 0], max_epochs=2)
    assert names(tmp_path) == ["run_model_2.pt", "run_model_4.pt"]
    handler(trainer)  # e.g. from a PreemptionHandler: the objects given at attach are saved again
    assert load_checkpoint(tmp_path / "run_model_4.pt")["weight"].shape == (1, 1)


def test_model_checkpoint_attach_without_objects(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"ModelCheckpoint.attach needs the objects to save"):
        ModelCheckpoint(tmp_path).attach(idle_trainer())


# ------------------------------------------------------------------------------------------ bad input


class NoState:
    pass


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda folder: Checkpoint({"thing": NoState()}, folder), TypeError, r"to_save\['thing'\] is a NoState"),
        (lambda folder: Checkpoint([torch.nn.Linear(1, 1)], folder), TypeError, "to_save must be a dict"),
        (lambda folder: Checkpoint({}, folder), ValueError, "to_save is empty"),
        (
            lambda folder: Checkpoint({"m": torch.nn.Linear(1, 1)}, folder, n_saved=0),
            ValueError,
            "n_saved must be >= 1",
        ),
        (lambda folder: Checkpoint({"m": torch.nn.Linear(1, 1)}, folder, n_saved=1.5), TypeError, "n_saved must be"),
        (lambda folder: Checkpoint({"m": torch.nn.Linear(1, 1)}, 42), TypeError, "save_handler must be"),
        (
            lambda folder: Checkpoint({"m": torch.nn.Linear(1, 1)}, folder, score_function=0.5),
            TypeError,
            r"score_function must be a function \(engine\), got float",
        ),
        (lambda folder: DiskSaver(folder / "missing", create_dir=False), ValueError, "does not exist"),
        (lambda folder: DiskSaver(folder / "file.txt" / "sub"), PermissionError, "Cannot create the checkpoint folder"),
        (lambda folder: DiskSaver(folder / "occupied"), ValueError, r"already holds checkpoints \['old_1.pt'\]"),
    ],
    ids=[
        "no-state-dict",
        "not-a-dict",
        "empty",
        "n_saved-0",
        "n_saved-float",
        "bad-saver",
        "score-name",
        "no-dir",
        "unwritable",
        "not-empty",
    ],
)
def test_bad_construction(tmp_path: Path, build: Any, error: type[Exception], message: str) -> None:
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "old_1.pt").write_bytes(b"")
    with pytest.raises(error, match=message):
        build(tmp_path)


def test_read_only_folder_is_refused_at_construction(tmp_path: Path) -> None:
    """An existing folder that cannot take files fails when the saver is built, not at the first save."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: use a folder no one can write to
            if not Path("/proc").is_dir():
                pytest.skip("no read-only folder is available to this process")
            folder = Path("/proc")
        with pytest.raises(PermissionError, match="is not writable"):
            DiskSaver(folder, require_empty=False)
    finally:
        (tmp_path / "ro").chmod(0o700)


@pytest.mark.parametrize("score", ["high", None, float("nan"), True])
def test_score_function_must_return_a_number(tmp_path: Path, score: Any) -> None:
    checkpoint = Checkpoint({"m": torch.nn.Linear(1, 1)}, tmp_path, score_function=lambda engine: score)
    with pytest.raises(TypeError, match="score_function must return a real number"):
        checkpoint(idle_trainer())


def test_missing_key_lists_missing_and_unexpected(tmp_path: Path) -> None:
    Checkpoint({"model": torch.nn.Linear(1, 1), "extra": torch.nn.Linear(1, 1)}, tmp_path)(idle_trainer())
    to_load = {"model": torch.nn.Linear(1, 1), "optimizer": torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), 0.1)}
    with pytest.raises(ValueError, match=r"missing \['optimizer'\], unexpected \['extra'\]"):
        Checkpoint.load_objects(to_load, tmp_path / "checkpoint_0.pt")


def test_shape_mismatch_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    Checkpoint({"model": torch.nn.Linear(3, 2)}, tmp_path)(idle_trainer())
    with pytest.raises(ValueError, match=r"Tensor model\.weight has shape \[2, 3\] in the checkpoint but \[4, 3\]"):
        Checkpoint.load_objects({"model": torch.nn.Linear(3, 4)}, tmp_path / "model_0.pt")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No checkpoint file at .*nowhere\.pt"):
        Checkpoint.load_objects({"model": torch.nn.Linear(1, 1)}, tmp_path / "nowhere.pt")


def test_model_checkpoint_without_objects_fails_when_added(tmp_path: Path) -> None:
    """As in ignite, the objects to save are a required argument: adding the handler without them fails at once."""
    trainer = idle_trainer()
    with pytest.raises(TypeError, match=r"has parameters \(engine, to_save, event=None\) but will be called as"):
        trainer.add_event_handler(Events.EPOCH_COMPLETED, ModelCheckpoint(tmp_path))


@pytest.mark.distributed
def test_only_rank_zero_writes_under_a_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two gloo processes checkpoint the same run: one set of files, holding rank 0's weights."""
    import importlib

    from ember import distributed

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    workers = importlib.import_module("checkpoint_rank_workers")
    results = distributed.spawn(workers.save_on_every_rank, nprocs=2, args=(str(tmp_path),), timeout=120)
    name = "checkpoint_1_score=3.0000.pt"
    for rank, result in enumerate(results):
        # every rank knows the kept file: rank 0 tells the others after each save
        assert result == {"rank": rank, "files": [name], "state_dict_calls": 3, "last": name}
    weight = load_checkpoint(tmp_path / name)["model"]["weight"]
    assert torch.equal(weight, torch.ones(2, 2))


@pytest.mark.distributed
@pytest.mark.slow
def test_a_ddp_run_is_written_once_and_resumes_on_nodes_with_their_own_disks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 gloo ranks with a DistributedDataParallel model: rank 0 writes one file without the module. prefix;
    resuming where only rank 0's disk holds it puts both ranks at its position, and they end as an uninterrupted
    run does. Checkpoint.load_objects with a path only rank 0 has loads rank 0's weights everywhere."""
    import importlib

    from ember import distributed

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    workers = importlib.import_module("checkpoint_rank_workers")
    results = distributed.spawn(workers.ddp_save_then_resume_on_own_disks, nprocs=2, args=(str(tmp_path),), timeout=180)
    assert results[0]["written"] == ["checkpoint_4.pt"] and results[1]["written"] == []
    assert sorted(path.name for path in (tmp_path / "node0").iterdir()) == ["checkpoint_4.pt"]
    saved = torch.load(tmp_path / "node0" / "checkpoint_4.pt")
    assert sorted(saved["model"]) == ["bias", "weight"]  # no "module." prefix: it loads into a plain model
    torch.nn.Linear(2, 1).load_state_dict(saved["model"])
    for result in results:
        assert result["resumed"] == "checkpoint_4.pt" and result["position"] == (4, 2)
        assert torch.equal(result["resumed_weights"], result["reference_weights"])
        assert result["loaded_from_rank_0"] == [7.0, 7.0]
    assert torch.equal(results[0]["resumed_weights"], results[1]["resumed_weights"])
    assert not (tmp_path / "node1").exists() or list((tmp_path / "node1").iterdir()) == []


class BreaksOnSecondSave:
    """Its second state dict cannot be serialised, so the second checkpoint write fails for real."""

    def __init__(self) -> None:
        self.saves = 0

    def state_dict(self) -> dict[str, Any]:
        self.saves += 1
        return {"saves": self.saves} if self.saves == 1 else {"saves": lambda: None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.saves = state_dict["saves"]


@pytest.mark.parametrize(
    ("asynchronous", "error", "message"),
    [
        (False, TypeError, "The checkpoint's state cannot be saved by torch.save"),
        (True, RuntimeError, r"failed in the background while writing checkpoint .*thing_2\.pt"),
    ],
    ids=["sync", "async"],
)
def test_a_failed_write_keeps_the_older_checkpoint(
    tmp_path: Path, asynchronous: bool, error: type[Exception], message: str
) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"thing": BreaksOnSecondSave()}, DiskSaver(tmp_path, asynchronous=asynchronous), n_saved=1)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, checkpoint)
    with pytest.raises(error, match=message):
        trainer.run(range(5), max_epochs=1)
    assert names(tmp_path) == ["thing_1.pt"]
    assert load_checkpoint(tmp_path / "thing_1.pt") == {"saves": 1}
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]


def test_latest_is_the_highest_step_whatever_the_score_name(tmp_path: Path) -> None:
    saver = DiskSaver(tmp_path)
    for name in [
        "best_model_9_val_acc=0.9000.pt",
        "best_model_12_val_acc=0.1000.pt",
        "best_model_10_val_acc=0.5000.pt",
    ]:
        saver({"model": {}}, name)
    latest = find_latest_checkpoint(tmp_path, "best")
    assert latest is not None and latest.name == "best_model_12_val_acc=0.1000.pt"


def test_checkpoint_files_get_the_umask_mode(tmp_path: Path) -> None:
    """Files are created 0o666 less the umask, like open() would, and the umask is left as it was."""
    import os as _os

    from ember.handlers import DiskSaver as _DiskSaver

    previous = _os.umask(0o027)
    try:
        _DiskSaver(tmp_path)({"w": torch.zeros(1)}, "a.pt")
        assert (tmp_path / "a.pt").stat().st_mode & 0o777 == 0o640
        assert _os.umask(0o027) == 0o027
    finally:
        _os.umask(previous)


def test_save_on_rank_beyond_the_world_size_is_refused_when_the_run_starts(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"model": torch.nn.Linear(2, 2)}, tmp_path, save_on_rank=1)
    checkpoint.attach(trainer, Events.EPOCH_COMPLETED)
    with pytest.raises(ValueError, match=r"save_on_rank=1, but this run has world size 1.*Pass save_on_rank=0"):
        trainer.run(range(3), max_epochs=1)
    assert trainer.state.iteration == 0  # refused at STARTED, before any training
    assert names(tmp_path) == []
    assert checkpoint.last_checkpoint is None


def test_save_on_rank_beyond_the_world_size_is_refused_at_the_first_save(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint({"model": torch.nn.Linear(2, 2)}, tmp_path, save_on_rank=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    with pytest.raises(ValueError, match=r"Checkpoint got save_on_rank=1, but this run has world size 1"):
        trainer.run(range(3), max_epochs=1)
    assert names(tmp_path) == []
    assert checkpoint.last_checkpoint is None


def test_a_disk_saver_with_save_on_rank_beyond_the_world_size_refuses_to_save(tmp_path: Path) -> None:
    saver = DiskSaver(tmp_path, save_on_rank=2)
    with pytest.raises(ValueError, match=r"DiskSaver got save_on_rank=2, but this run has world size 1"):
        saver({"w": torch.zeros(1)}, "w.pt")
