"""Sharded checkpoints (ShardedSaver + DCP): atomic folders, exact resume on 2 ranks, 2 -> 1 and 1 -> 2, real kills."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ember import Events, distributed
from ember._torch_version import FSDP2_TORCH, SHARDED_CHECKPOINT_TORCH
from ember.handlers import Checkpoint, CorruptCheckpointError, PreemptionHandler
from ember.handlers.sharded_checkpoint import (
    ShardedSaver,
    dcp_to_torch_save,
    find_latest_sharded_checkpoint,
    load_sharded_checkpoint,
    resume_from_latest_sharded,
    verify_sharded_checkpoint,
)

# A rank left waiting for a peer (a collective the other rank never reaches) raises after this many seconds.
TIMEOUT = 120
HERE = Path(__file__).parent
# ShardedSaver and the loaders raise on a torch older than these (tests/test_torch_version.py); the tests
# with 2 ranks shard the model with FSDP2
pytestmark = pytest.mark.requires_torch(SHARDED_CHECKPOINT_TORCH, "Saving and loading sharded checkpoints")
FSDP2 = pytest.mark.requires_torch(FSDP2_TORCH, "A sharded checkpoint of an FSDP2 model")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(HERE))
    return importlib.import_module("sharded_workers")


def _one_rank_run(workers: Any, folder: Path, stop_at: int) -> dict[str, Any]:
    """Train one (unsharded) process with a ShardedSaver every iteration, interrupted after ``stop_at``."""
    objects = workers._training_objects(1, str(folder), False, 2)
    objects["trainer"].add_event_handler(Events.ITERATION_COMPLETED(once=stop_at), lambda engine: engine.interrupt())
    objects["trainer"].run(workers.batches(0, 1), max_epochs=2)
    return objects


# --------------------------------------------------------------------------- one process


def test_one_process_save_is_a_complete_folder_and_retention_keeps_n_saved(workers: Any, tmp_path: Path) -> None:
    objects = _one_rank_run(workers, tmp_path, stop_at=3)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_2", "checkpoint_3"]
    contents = sorted(os.listdir(tmp_path / "checkpoint_3"))
    assert contents == [".metadata", "__0_0.distcp", "ember-checkpoint.json", "objects_rank0.pt"]
    marker = verify_sharded_checkpoint(tmp_path / "checkpoint_3")
    assert marker["world_size"] == 1
    assert marker["sharded"] == ["model", "optimizer"] and marker["objects"] == ["rng", "trainer"]
    assert find_latest_sharded_checkpoint(tmp_path) == tmp_path / "checkpoint_3"
    fresh = workers._training_objects(1, None, False, None)
    assert resume_from_latest_sharded(fresh["to_save"], tmp_path) == tmp_path / "checkpoint_3"
    assert fresh["trainer"].state.iteration == 3
    for name, tensor in objects["model"].state_dict().items():
        assert torch.equal(fresh["model"].state_dict()[name], tensor)
    saved_state = objects["optimizer"].state_dict()["state"]
    assert torch.equal(fresh["optimizer"].state_dict()["state"][0]["exp_avg"], saved_state[0]["exp_avg"])


def test_an_unfinished_save_is_never_picked(workers: Any, tmp_path: Path) -> None:
    """No marker, a short shard, a missing index, a hidden temporary folder: skipped; loading one says why."""
    _one_rank_run(workers, tmp_path, stop_at=2)
    complete = tmp_path / "checkpoint_2"
    for step, damage in ((5, "marker"), (6, "shard"), (7, "index")):
        broken = tmp_path / f"checkpoint_{step}"
        shutil.copytree(complete, broken)
        if damage == "marker":
            (broken / "ember-checkpoint.json").unlink()
        elif damage == "shard":
            shard = broken / "__0_0.distcp"
            shard.write_bytes(shard.read_bytes()[:100])
        else:
            (broken / ".metadata").unlink()
    shutil.copytree(complete, tmp_path / ".checkpoint_9.partial")
    assert find_latest_sharded_checkpoint(tmp_path) == complete
    fresh = workers._training_objects(1, None, False, None)
    with pytest.raises(CorruptCheckpointError, match=r"checkpoint_6.*shard '__0_0.distcp' has 100 bytes, fewer than"):
        load_sharded_checkpoint(fresh["to_save"], tmp_path / "checkpoint_6")
    with pytest.raises(CorruptCheckpointError, match=r"no completion marker .* did not finish"):
        load_sharded_checkpoint(fresh["to_save"], tmp_path / "checkpoint_5")
    with pytest.raises(CorruptCheckpointError, match=r"no readable DCP index \(.metadata\)"):
        load_sharded_checkpoint(fresh["to_save"], tmp_path / "checkpoint_7")
    with pytest.raises(FileNotFoundError, match="No sharded checkpoint folder at"):
        load_sharded_checkpoint(fresh["to_save"], tmp_path / "checkpoint_99")
    # the next run's first save clears what unfinished saves left, and keeps every named folder
    ShardedSaver(tmp_path, require_empty=False)({"model": fresh["model"]}, "model_11.pt")
    assert sorted(os.listdir(tmp_path)) == [f"checkpoint_{step}" for step in (1, 2, 5, 6, 7)] + ["model_11"]


def test_loading_into_a_model_lacking_a_key_names_it(workers: Any, tmp_path: Path) -> None:
    _one_rank_run(workers, tmp_path, stop_at=1)
    smaller = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))  # no final Linear "4"
    with pytest.raises(
        ValueError, match=r"the checkpoint holds \['4.bias', '4.weight'\], which to_load\['model'\] lacks.*strict=False"
    ):
        load_sharded_checkpoint({"model": smaller}, tmp_path / "checkpoint_1")
    load_sharded_checkpoint({"model": smaller}, tmp_path / "checkpoint_1", strict=False)
    full = workers._training_objects(1, None, False, None)
    load_sharded_checkpoint({"model": full["model"]}, tmp_path / "checkpoint_1")
    assert torch.equal(smaller[2].weight, full["model"][2].weight)
    with pytest.raises(ValueError, match=r"misses keys of to_load: missing \['scheduler'\]"):
        load_sharded_checkpoint({"model": full["model"], "scheduler": full["trainer"]}, tmp_path / "checkpoint_1")


SHAPES = {  # what make_model(16) saved, and make_model(32) has: the keys are the same
    "0.weight": ([16, 8], [32, 8]),
    "0.bias": ([16], [32]),
    "2.weight": ([16, 16], [32, 32]),
    "2.bias": ([16], [32]),
    "4.weight": ([3, 16], [3, 32]),
}


def assert_names_every_shape(outcome: Any) -> None:
    assert outcome is not None and outcome["type"] == "ValueError", outcome
    for key, (saved, wanted) in SHAPES.items():
        assert f"'{key}': {saved} in the checkpoint, {wanted} in to_load['model']" in outcome["message"]
    assert "'4.bias'" not in outcome["message"]  # the same shape in both


def test_loading_into_other_shapes_is_a_value_error_naming_every_tensor(workers: Any, tmp_path: Path) -> None:
    """One process: a ValueError listing each mismatched tensor with both shapes, not DCP's CheckpointException."""
    outcome = workers.load_into_other_shapes(0, str(tmp_path))
    assert_names_every_shape(outcome["strict=True"])
    assert_names_every_shape(outcome["strict=False"])  # strict=False loads keys both have; shapes must still fit


@FSDP2
def test_two_ranks_loading_into_other_shapes_get_the_same_value_error(workers: Any, tmp_path: Path) -> None:
    """Two gloo ranks (FSDP): every rank raises the ValueError naming every tensor, and none hangs."""
    outcomes = distributed.spawn(workers.load_into_other_shapes, nprocs=2, args=(str(tmp_path),), timeout=TIMEOUT)
    for outcome in outcomes:
        assert_names_every_shape(outcome["strict=True"])
        assert_names_every_shape(outcome["strict=False"])
        assert outcome["after"] == 3


@FSDP2
def test_a_save_that_fails_on_rank_zero_fails_on_every_rank_without_a_hang(workers: Any, tmp_path: Path) -> None:
    """Rank 0 cannot create the save's folder: both ranks raise its error at once (rank 1 waited in a barrier)."""
    started = time.monotonic()
    outcomes = distributed.spawn(workers.save_when_rank_zero_cannot, nprocs=2, args=(str(tmp_path),), timeout=60)
    assert time.monotonic() - started < 50  # well before the process group's timeout would free rank 1
    assert [outcome["type"] for outcome in outcomes] == ["FileExistsError", "FileExistsError"]
    assert outcomes[1]["message"] == f"On rank 0: {outcomes[0]['message']}"
    assert [outcome["after"] for outcome in outcomes] == [3, 3]


def test_misuse_is_rejected(workers: Any, tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"to_save\['optimizer'\] is an optimizer, but to_save holds no model"):
        ShardedSaver(tmp_path)({"optimizer": optimizer}, "checkpoint_1.pt")
    with pytest.raises(TypeError, match="async_save must be True or False, got 'yes'"):
        ShardedSaver(tmp_path, async_save="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"does not exist\. Create it, or pass create_dir=True"):
        ShardedSaver(tmp_path / "absent", create_dir=False)
    _one_rank_run(workers, tmp_path / "run", stop_at=1)
    with pytest.raises(ValueError, match=r"already holds checkpoints \['checkpoint_1'\].*require_empty=False"):
        ShardedSaver(tmp_path / "run")


def test_conversion_to_one_file_loads_into_a_plain_model(workers: Any, tmp_path: Path) -> None:
    objects = _one_rank_run(workers, tmp_path, stop_at=2)
    output = dcp_to_torch_save(tmp_path / "checkpoint_2", tmp_path / "export" / "model.pt")
    plain = workers.make_model()
    plain[0].weight.data.zero_()
    plain.load_state_dict(torch.load(output, weights_only=True)["model"])
    for name, tensor in objects["model"].state_dict().items():
        assert torch.equal(plain.state_dict()[name], tensor)
    again = workers.make_model()
    Checkpoint.load_objects({"model": again}, output)
    assert torch.equal(again[4].weight, objects["model"][4].weight)
    assert torch.load(output, weights_only=True)["trainer"]["iteration"] == 2
    with pytest.raises(CorruptCheckpointError, match="no completion marker"):
        (tmp_path / "checkpoint_2" / "ember-checkpoint.json").unlink()
        dcp_to_torch_save(tmp_path / "checkpoint_2", tmp_path / "broken.pt")
    assert not (tmp_path / "broken.pt").exists()


@pytest.mark.parametrize("async_save", [False, True])
def test_preemption_writes_a_complete_sharded_checkpoint(workers: Any, tmp_path: Path, async_save: bool) -> None:
    """A real SIGTERM mid-run: PreemptionHandler writes through the ShardedSaver, complete when run() returns."""
    objects = workers._training_objects(1, None, False, None)
    checkpoint = Checkpoint(objects["to_save"], ShardedSaver(tmp_path, async_save=async_save))
    handler = PreemptionHandler(checkpoint, exit_code=None)
    handler.attach(objects["trainer"])
    objects["trainer"].add_event_handler(
        Events.ITERATION_COMPLETED(once=3), lambda engine: os.kill(os.getpid(), signal.SIGTERM)
    )
    objects["trainer"].run(workers.batches(0, 1), max_epochs=2)
    assert handler.preempted
    assert find_latest_sharded_checkpoint(tmp_path) == tmp_path / "checkpoint_3"
    fresh = workers._training_objects(1, None, False, None)
    load_sharded_checkpoint(fresh["to_save"], tmp_path / "checkpoint_3")
    assert fresh["trainer"].state.iteration == 3
    assert torch.equal(fresh["model"][0].weight, objects["model"][0].weight)


# --------------------------------------------------------------------------- two gloo ranks


@FSDP2
@pytest.mark.distributed
@pytest.mark.slow
def test_two_ranks_resume_exactly_and_reshard_to_one_rank_and_back(workers: Any, tmp_path: Path) -> None:
    """2 ranks -> 2 ranks bit-identical mid-epoch (sync and async), 2 -> 1 and 1 -> 2 with the same weights."""
    one_rank = _one_rank_run(workers, tmp_path / "one", stop_at=3)
    result = distributed.spawn(
        workers.resume, nprocs=2, args=(str(tmp_path / "two"), str(tmp_path / "one")), timeout=TIMEOUT
    )[0]
    for mode in ("sync", "async"):
        assert result[f"{mode}_resumed_from"] == "checkpoint_5"
        for name, tensor in result[f"{mode}_at_5"].items():
            assert torch.equal(result[f"{mode}_loaded"][name], tensor), (mode, name)
        for name, tensor in result["uninterrupted"].items():
            assert torch.equal(result[f"{mode}_resumed"][name], tensor), (mode, name)
        # n_saved=2 for each process's own saves (as in ignite, the resumed one leaves the first one's files);
        # nothing left over from a save
        assert result[f"{mode}_folders"] == ["checkpoint_4", "checkpoint_5", "checkpoint_7", "checkpoint_8"]
    # 1 -> 2: the 2 sharded ranks hold exactly the weights the single process saved
    assert result["from_one_rank"] == "checkpoint_3" and result["from_one_rank_iteration"] == 3
    for name, tensor in one_rank["model"].state_dict().items():
        assert torch.equal(result["from_one_rank_weights"][name], tensor)
    # 2 -> 1: a plain model in this process gets exactly the 2 ranks' final weights, and goes on training
    single = workers._training_objects(1, None, False, None)
    assert (
        resume_from_latest_sharded(single["to_save"], tmp_path / "two" / "sync") == tmp_path / "two/sync/checkpoint_8"
    )
    assert single["trainer"].state.iteration == 8
    for name, tensor in result["sync_resumed"].items():
        assert torch.equal(single["model"].state_dict()[name], tensor)
    single["trainer"].run(workers.batches(0, 1), max_epochs=3)
    assert single["trainer"].state.iteration == 12
    # and the 2-rank checkpoint converts to one file for a plain model
    output = dcp_to_torch_save(tmp_path / "two" / "async" / "checkpoint_8", tmp_path / "model.pt")
    plain = workers.make_model()
    plain.load_state_dict(torch.load(output, weights_only=True)["model"])
    for name, tensor in result["async_resumed"].items():
        assert torch.equal(plain.state_dict()[name], tensor)


def _kill_rank_one_during_a_save(folder: Path, mode: str) -> bool:
    """Start 2 ranks saving every iteration, SIGKILL rank 1 while a save is unfinished; True if one was cut short."""
    folder.mkdir()
    program = subprocess.Popen(
        [sys.executable, str(HERE / "sharded_workers.py"), str(folder), mode, "384"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        pid_file = folder / "pid1"
        while time.monotonic() < deadline:
            names = os.listdir(folder)
            # at least one complete checkpoint, and a save under way (its hidden temporary folder exists)
            saving = any(n.startswith(".checkpoint_") and n.endswith(".partial") for n in names)
            if saving and pid_file.exists() and any(n.startswith("checkpoint_") for n in names):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                break
            if program.poll() is not None:
                raise AssertionError(f"the saving program ended by itself with status {program.returncode}")
            time.sleep(0.001)
        else:
            raise AssertionError("no save was seen under way within 120 s")
        # the surviving rank fails on the lost peer, and the launcher tears everything down
        assert program.wait(timeout=TIMEOUT) != 0
    finally:
        if program.poll() is None:
            os.killpg(program.pid, signal.SIGKILL)
            program.wait()
    return any(name.endswith(".partial") for name in os.listdir(folder))


@FSDP2
@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_rank_killed_during_a_save_never_leaves_a_checkpoint_resume_cannot_load(
    workers: Any, tmp_path: Path, mode: str
) -> None:
    for attempt in range(3):  # the kill lands mid-save almost always; retry in case a save just finished
        folder = tmp_path / f"attempt{attempt}"
        if _kill_rank_one_during_a_save(folder, mode):
            break
    else:
        pytest.fail("in 3 attempts, no kill landed while a save was unfinished")
    complete = [path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")]
    assert complete, "at least one checkpoint was complete before the kill"
    latest = find_latest_sharded_checkpoint(folder)
    assert latest is not None
    for path in complete:  # every folder under a checkpoint's name is complete and loads
        model = workers.make_model(384)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        trainer = workers.create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
        load_sharded_checkpoint({"model": model, "optimizer": optimizer, "trainer": trainer}, path)
        assert trainer.state.iteration == int(path.name.split("_")[1])
