"""pytorch-ignite's Checkpoint API on ember: file names, arguments, save handlers, loading, ignite's own files."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from ember import Engine, Events
from ember.handlers import (
    BaseSaveHandler,
    Checkpoint,
    CorruptCheckpointError,
    DiskSaver,
    ModelCheckpoint,
    load_checkpoint,
    resume_from_latest,
    verify_checkpoint,
)

DATA = Path(__file__).with_name("data")


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def idle_trainer() -> Engine:
    return Engine(lambda engine, batch: batch)


def helper(name: str) -> Any:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


# ------------------------------------------------------------------------------------------ names


def test_file_names_equal_ignite_for_every_naming_option() -> None:
    """96 combinations of prefix, score_name, score_function, global_step_transform, objects and pattern.

    The expected table is what pytorch-ignite 0.5.5 printed for the same script
    (``python tests/handlers/checkpoint_names_script.py ignite`` in a venv with ignite).
    """
    expected = json.loads((DATA / "ignite_checkpoint_names.json").read_text())
    actual = helper("checkpoint_names_script").run("ember")
    assert len(expected) == 96
    differing = {case: (expected[case], actual.get(case)) for case in expected if expected[case] != actual.get(case)}
    assert differing == {}


def test_setup_filename_pattern() -> None:
    assert Checkpoint.setup_filename_pattern() == "{filename_prefix}_{name}_{global_step}_{score_name}={score}.{ext}"
    assert Checkpoint.setup_filename_pattern(False, True, False, False) == "{name}_{score}.{ext}"
    with pytest.raises(ValueError, match="needs with_global_step or with_score"):
        Checkpoint.setup_filename_pattern(with_score=False, with_score_name=False, with_global_step=False)
    with pytest.raises(ValueError, match="with_score_name=True needs with_score=True"):
        Checkpoint.setup_filename_pattern(with_score=False)


def test_score_name_alone_reads_the_metric(tmp_path: Path) -> None:
    """score_name without score_function keeps the best engine.state.metrics[score_name] (ignite 0.4.7+)."""
    evaluator = idle_trainer()
    accuracies = iter([0.3, 0.8, 0.6])
    evaluator.add_event_handler(
        Events.COMPLETED, lambda engine: engine.state.metrics.__setitem__("accuracy", next(accuracies))
    )
    best = Checkpoint({"model": torch.nn.Linear(1, 1)}, tmp_path, score_name="accuracy", n_saved=1)
    evaluator.add_event_handler(Events.COMPLETED, best)
    for _ in range(3):
        evaluator.run([0])
    assert names(tmp_path) == ["model_accuracy=0.8000.pt"]


def test_get_default_score_fn() -> None:
    engine = idle_trainer()
    engine.state.metrics = {"loss": 0.5}
    assert Checkpoint.get_default_score_fn("loss")(engine) == 0.5
    assert Checkpoint.get_default_score_fn("loss", -1.0)(engine) == -0.5
    with pytest.raises(ValueError, match=r"score_sign must be 1.0 .* or -1.0"):
        Checkpoint.get_default_score_fn("loss", 2.0)
    with pytest.raises(KeyError, match=r"'accuracy' is not in engine.state.metrics \(it has \['loss'\]\)"):
        Checkpoint.get_default_score_fn("accuracy")(engine)


@pytest.mark.parametrize(
    ("greater_or_equal", "kept"), [(False, "model_1_acc=0.5000.pt"), (True, "model_2_acc=0.5000.pt")]
)
def test_greater_or_equal_keeps_the_latest_of_equal_scores(tmp_path: Path, greater_or_equal: bool, kept: str) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint(
        {"model": torch.nn.Linear(1, 1)},
        tmp_path,
        score_function=lambda engine: 0.5,
        score_name="acc",
        global_step_transform=lambda engine, event: engine.state.epoch,
        greater_or_equal=greater_or_equal,
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=2)
    assert names(tmp_path) == [kept]


def test_filename_pattern(tmp_path: Path) -> None:
    trainer = idle_trainer()
    checkpoint = Checkpoint(
        {"model": torch.nn.Linear(1, 1), "trainer": trainer},
        tmp_path,
        filename_prefix="run",
        n_saved=None,
        filename_pattern="{filename_prefix}-{global_step:04d}-{name}.{ext}",
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0, 0], max_epochs=2)
    assert names(tmp_path) == ["run-0002-checkpoint.pt", "run-0004-checkpoint.pt"]


def test_filename_pattern_with_an_unknown_field() -> None:
    with pytest.raises(ValueError, match=r"unknown fields \['epoch'\]"):
        Checkpoint({"m": torch.nn.Linear(1, 1)}, lambda checkpoint, filename: None, filename_pattern="{epoch}.pt")


# ------------------------------------------------------------------------------------------ the handler


def test_last_checkpoint_is_a_path_for_a_disk_saver_and_a_name_otherwise(tmp_path: Path) -> None:
    """ignite returns dirname / filename for a DiskSaver (ModelCheckpoint too), the file name for other savers."""
    trainer = idle_trainer()
    on_disk = ModelCheckpoint(tmp_path, "run", n_saved=2)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, on_disk, {"model": torch.nn.Linear(1, 1)})
    stored: dict[str, Any] = {}
    elsewhere = Checkpoint({"trainer": trainer}, lambda checkpoint, filename: stored.__setitem__(filename, checkpoint))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, elsewhere)
    assert on_disk.last_checkpoint is None
    trainer.run([0, 0], max_epochs=3)
    assert on_disk.last_checkpoint == tmp_path / "run_model_6.pt"
    assert isinstance(on_disk.last_checkpoint, Path)
    assert elsewhere.last_checkpoint == "trainer_6.pt"


def test_a_plain_function_is_a_save_handler_and_removes_nothing() -> None:
    """ignite calls remove only on a BaseSaveHandler: a function gets every checkpoint and deletes none."""
    calls: list[tuple[str, Any]] = []

    def save(checkpoint: Any, filename: str, metadata: Any) -> None:
        calls.append((filename, metadata))

    trainer = idle_trainer()
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"trainer": trainer}, save, "run", n_saved=1))
    trainer.run([0], max_epochs=2)
    assert [filename for filename, _ in calls] == ["run_trainer_1.pt", "run_trainer_2.pt"]
    assert calls[1][1] == {"basename": "run_trainer", "score_name": None, "priority": 2}


def test_a_base_save_handler_subclass_removes_what_n_saved_drops() -> None:
    class Store(BaseSaveHandler):
        def __init__(self) -> None:
            self.files: dict[str, Any] = {}

        def __call__(self, checkpoint: Any, filename: str, metadata: Any = None) -> None:
            self.files[filename] = checkpoint

        def remove(self, filename: str) -> None:
            del self.files[filename]

    store = Store()
    model = torch.nn.Linear(1, 1)
    trainer = idle_trainer()
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"model": model}, store, n_saved=2))
    trainer.run([0], max_epochs=3)
    assert sorted(store.files) == ["model_2.pt", "model_3.pt"]
    assert torch.equal(store.files["model_3.pt"]["weight"], model.weight)


def test_base_save_handler_is_abstract() -> None:
    class Incomplete(BaseSaveHandler):
        def __call__(self, checkpoint: Any, filename: str, metadata: Any = None) -> None:
            pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_reset_forgets_the_kept_files(tmp_path: Path) -> None:
    """ignite's idiom for independent runs (folds): reset on STARTED, so each run keeps its own n_saved."""
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, lambda checkpoint, filename: None, n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0, 0], max_epochs=2)
    assert checkpoint.last_checkpoint == "trainer_4.pt"
    trainer.add_event_handler(Events.STARTED, checkpoint.reset)
    trainer.run([0], max_epochs=2)  # a new run of 2 iterations: without the reset, trainer_4.pt would stay the best
    assert checkpoint.last_checkpoint == "trainer_2.pt"


def test_a_second_run_keeps_the_first_runs_file_and_says_so(tmp_path: Path) -> None:
    """The same Checkpoint(n_saved=1) on a second run: as in ignite, its steps are not higher, nothing is saved.

    ember warns, naming checkpoint.reset, since a run whose checkpoints are silently dropped loses work.
    """
    model = torch.nn.Linear(1, 1)

    def step(engine: Engine, batch: Any) -> None:
        with torch.no_grad():
            model.weight.add_(1.0)

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"model": model}, tmp_path, n_saved=1))
    trainer.run([0, 0], max_epochs=2)
    first = model.weight.detach().clone()
    with pytest.warns(UserWarning, match=r"did not save at global step 2.*checkpoint\.reset"):
        trainer.run([0, 0], max_epochs=2)  # a finished run started again: a new run of 4 iterations
    assert names(tmp_path) == ["model_4.pt"]
    assert torch.equal(torch.load(tmp_path / "model_4.pt")["weight"], first)


def test_nested_dicts_and_lists_in_to_save_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    optimizers = [torch.optim.SGD(generator.parameters(), 0.1), torch.optim.Adam(discriminator.parameters())]
    to_save = {"models": {"g": generator, "d": discriminator}, "optimizers": optimizers}
    Checkpoint(to_save, tmp_path)(idle_trainer())
    saved = torch.load(tmp_path / "checkpoint_0.pt")
    assert sorted(saved["models"]) == ["d", "g"] and len(saved["optimizers"]) == 2
    fresh_g, fresh_d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    fresh_optimizers = [torch.optim.SGD(fresh_g.parameters(), 0.5), torch.optim.Adam(fresh_d.parameters(), lr=1.0)]
    Checkpoint.load_objects({"models": {"g": fresh_g, "d": fresh_d}, "optimizers": fresh_optimizers}, saved)
    assert torch.equal(fresh_g.weight, generator.weight) and torch.equal(fresh_d.bias, discriminator.bias)
    assert fresh_optimizers[0].param_groups[0]["lr"] == 0.1 and fresh_optimizers[1].param_groups[0]["lr"] == 1e-3


def test_include_self_refuses_a_checkpointer_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="to_save has a key 'checkpointer'"):
        Checkpoint({"checkpointer": torch.nn.Linear(1, 1)}, tmp_path, include_self=True)


# ------------------------------------------------------------------------------------------ files and loading


def test_a_single_object_is_saved_as_its_bare_state_dict(tmp_path: Path) -> None:
    """As with ignite: model.load_state_dict(torch.load(path)) works on a checkpoint of the model alone."""
    model = torch.nn.Linear(3, 2)
    trainer = idle_trainer()
    handler = ModelCheckpoint(tmp_path, "best")
    trainer.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": model})
    trainer.run([0], max_epochs=1)
    fresh = torch.nn.Linear(3, 2)
    fresh.load_state_dict(torch.load(tmp_path / "best_model_1.pt"))
    assert torch.equal(fresh.weight, model.weight)
    other = torch.nn.Linear(3, 2)
    Checkpoint.load_objects({"model": other}, tmp_path / "best_model_1.pt")
    assert torch.equal(other.bias, model.bias)


def test_several_objects_load_with_plain_torch_load(tmp_path: Path) -> None:
    model, trainer = torch.nn.Linear(2, 2), idle_trainer()
    Checkpoint({"model": model, "trainer": trainer}, tmp_path)(trainer)
    loaded = torch.load(tmp_path / "checkpoint_0.pt")  # weights_only=True by default in torch >= 2.6
    assert sorted(loaded) == ["model", "trainer"] and torch.equal(loaded["model"]["weight"], model.weight)


def test_a_single_key_to_load_takes_its_entry_of_a_full_checkpoint(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    Checkpoint({"model": model, "trainer": idle_trainer()}, tmp_path)(idle_trainer())
    fresh = torch.nn.Linear(2, 2)
    Checkpoint.load_objects({"model": fresh}, tmp_path / "checkpoint_0.pt")
    assert torch.equal(fresh.weight, model.weight)


def test_strict_false_loads_part_of_a_model() -> None:
    source = torch.nn.Sequential(torch.nn.Linear(2, 2))
    target = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with pytest.raises(RuntimeError, match="Missing key"):
        Checkpoint.load_objects({"model": target}, {"model": source.state_dict()})
    Checkpoint.load_objects({"model": target}, {"model": source.state_dict()}, strict=False)
    assert torch.equal(target[0].weight, source[0].weight)


@pytest.mark.parametrize("wrapper", [torch.nn.DataParallel], ids=["DataParallel"])
def test_a_wrapped_model_is_saved_without_the_module_prefix(tmp_path: Path, wrapper: Any) -> None:
    """A DataParallel model (DDP is tested on 2 gloo ranks) saves the inner model's keys and loads into a plain one."""
    model = torch.nn.Linear(2, 1)
    Checkpoint({"model": wrapper(model), "trainer": idle_trainer()}, tmp_path)(idle_trainer())
    saved = torch.load(tmp_path / "checkpoint_0.pt")
    assert sorted(saved["model"]) == ["bias", "weight"]
    plain = torch.nn.Linear(2, 1)
    Checkpoint.load_objects({"model": plain}, saved)
    assert torch.equal(plain.weight, model.weight)
    wrapped_again = wrapper(torch.nn.Linear(2, 1))
    Checkpoint.load_objects({"model": wrapped_again}, saved)
    assert torch.equal(wrapped_again.module.weight, model.weight)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4:UserWarning")  # torch's, on the load below
def test_disk_saver_passes_torch_save_keywords_and_writes_in_place_when_not_atomic(tmp_path: Path) -> None:
    saver = DiskSaver(tmp_path, False, True, True, pickle_protocol=4)  # ignite's positional order
    assert saver.atomic is False
    saver({"w": torch.ones(2)}, "a.pt")
    verify_checkpoint(tmp_path / "a.pt")
    with zipfile.ZipFile(tmp_path / "a.pt") as archive:
        assert archive.read("archive/data.pkl")[:2] == b"\x80\x04"  # pickled with protocol 4
    # (torch.load's weights_only unpickler does not read protocol 4: the error says to pass weights_only=False)
    with pytest.raises(RuntimeError, match="weights_only=True"):
        load_checkpoint(tmp_path / "a.pt")
    assert torch.equal(load_checkpoint(tmp_path / "a.pt", weights_only=False)["w"], torch.ones(2))
    with pytest.raises(TypeError, match=r"unknown keyword arguments \['compress'\]"):
        DiskSaver(tmp_path / "other", compress=True)


def test_torch_legacy_format_still_loads(tmp_path: Path) -> None:
    """torch.save's non-zip format has no place for a checksum: it is written and read without one."""
    DiskSaver(tmp_path, _use_new_zipfile_serialization=False)({"w": torch.arange(3)}, "legacy.pt")
    assert torch.equal(load_checkpoint(tmp_path / "legacy.pt")["w"], torch.arange(3))


def test_model_checkpoint_takes_ignites_positional_arguments(tmp_path: Path) -> None:
    parameters = list(inspect.signature(ModelCheckpoint.__init__).parameters)[1:14]
    assert parameters == [
        "dirname",
        "filename_prefix",
        "score_function",
        "score_name",
        "n_saved",
        "atomic",
        "require_empty",
        "create_dir",
        "global_step_transform",
        "filename_pattern",
        "include_self",
        "greater_or_equal",
        "save_on_rank",
    ]
    handler = ModelCheckpoint(tmp_path, "p", None, None, 2, True, False, True, lambda engine, event: 7)
    trainer = idle_trainer()
    trainer.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": torch.nn.Linear(1, 1)})
    trainer.run([0], max_epochs=1)
    assert names(tmp_path) == ["p_model_7.pt"]


# ------------------------------------------------------------------------------------------ wiring-time checks


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"score_function": "accuracy"}, TypeError, r"score_function must be a function \(engine\), got str"),
        ({"score_function": lambda: 1.0}, TypeError, r"score_function must take 1 argument \(engine\)"),
        ({"global_step_transform": 3}, TypeError, r"global_step_transform must be a function \(engine, event\)"),
        (
            {"global_step_transform": lambda engine: 1},
            TypeError,
            r"global_step_transform must take 2 arguments \(engine, event\), but its parameters are \(engine\)",
        ),
        ({"greater_or_equal": "yes"}, TypeError, "greater_or_equal must be True or False"),
        ({"filename_pattern": 5}, TypeError, "filename_pattern must be a string"),
    ],
    ids=["score-not-callable", "score-arity", "step-not-callable", "step-arity", "greater_or_equal", "pattern"],
)
def test_user_functions_are_checked_when_given(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Checkpoint({"m": torch.nn.Linear(1, 1)}, lambda checkpoint, filename: None, **options)


def test_a_save_handler_with_the_wrong_parameters_is_refused() -> None:
    with pytest.raises(TypeError, match=r"save_handler must take \(checkpoint, filename\)"):
        Checkpoint({"m": torch.nn.Linear(1, 1)}, lambda checkpoint: None)


def test_global_step_transform_must_return_an_integer(tmp_path: Path) -> None:
    checkpoint = Checkpoint({"m": torch.nn.Linear(1, 1)}, tmp_path, global_step_transform=lambda engine, event: "x")
    with pytest.raises(TypeError, match="global_step_transform must return an integer, got 'x'"):
        checkpoint(idle_trainer())


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    """Only ember's temporary names, and only when the writing process is gone (or is this one, idle)."""
    import subprocess

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)
    alive = os.getppid()
    leftovers = {
        f".model_3.pt.{dead}-0123456789ab.partial": False,  # a killed writer's: removed
        ".model_2.pt.0123456789ab.partial": False,  # the earlier naming, without a pid: removed
        f".model_4.pt.{os.getpid()}-0123456789ab.partial": False,  # this process, not writing it: removed
        f".model_5.pt.{alive}-0123456789ab.partial": True,  # a running process may still be writing it: kept
        "notes.partial": True,  # not an ember temporary file: kept
        "model_1.pt": True,
    }
    for name in leftovers:
        (tmp_path / name).write_bytes(b"x")
    DiskSaver(tmp_path, require_empty=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(name for name, kept in leftovers.items() if kept)


def test_resume_from_a_folder_that_does_not_exist_warns(tmp_path: Path) -> None:
    trainer = idle_trainer()
    with pytest.warns(UserWarning, match=r"checkpoint folder '.*typo' does not exist; starting a new run"):
        assert resume_from_latest({"trainer": trainer}, tmp_path / "typo") is None
    assert trainer.state.iteration == 0


# ------------------------------------------------------------------------------------------ ignite's own files


def test_a_checkpoint_written_by_ignite_resumes_an_ember_trainer() -> None:
    """ignite 0.5.5 wrote the file (tests/handlers/checkpoint_make_ignite_fixture.py) after 2 of 4 epochs; ember
    resumes it and ends with the weights ignite's uninterrupted 4-epoch run ended with.

    Needs Engine.load_state_dict to accept ignite's engine state ({"epoch_length", "iteration", "max_epochs"}).
    """
    path = DATA / "ignite_trainer_checkpoint_6.pt"
    verify_checkpoint(path)  # a plain torch.save archive: checked by its records' CRC-32s
    trainer, model, optimizer, batches = helper("checkpoint_make_ignite_fixture").build(Engine)
    Checkpoint.load_objects({"trainer": trainer, "model": model, "optimizer": optimizer}, path)
    assert (trainer.state.iteration, trainer.state.epoch) == (6, 2)
    trainer.run(batches, max_epochs=4)
    assert trainer.state.iteration == 12
    reference = torch.load(DATA / "ignite_reference_weights.pt")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=1e-7)


def test_a_damaged_ignite_file_is_detected(tmp_path: Path) -> None:
    """A file without ember's checksum is checked by the CRC-32 of each record: a flipped bit in a tensor shows."""
    data = bytearray((DATA / "ignite_trainer_checkpoint_6.pt").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        tensor = archive.read("archive/data/0")
    data[data.find(tensor) + 3] ^= 0x01
    (tmp_path / "checkpoint_6.pt").write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"corrupted: the CRC-32 of its record 'archive/data/0'"):
        verify_checkpoint(tmp_path / "checkpoint_6.pt")


def test_saved_checkpoint_fires_after_each_write(tmp_path: Path) -> None:
    trainer = idle_trainer()
    scores = iter([0.5, 0.2, 0.9])
    checkpoint = Checkpoint({"model": torch.nn.Linear(1, 1)}, tmp_path, score_function=lambda engine: next(scores))
    checkpoint.attach(trainer, Events.EPOCH_COMPLETED)  # registers Checkpoint.SAVED_CHECKPOINT on the trainer
    saved_at: list[int] = []
    trainer.add_event_handler(Checkpoint.SAVED_CHECKPOINT, lambda engine: saved_at.append(engine.state.epoch))
    trainer.run([0], max_epochs=3)
    assert saved_at == [1, 3]  # the second epoch's score did not make the cut: nothing written, nothing fired


def test_reload_objects_finds_the_file_by_its_components(tmp_path: Path) -> None:
    model = torch.nn.Linear(1, 1)
    trainer = idle_trainer()
    handler = ModelCheckpoint(tmp_path, "run", n_saved=None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": model})
    trainer.run([0, 0], max_epochs=2)
    fresh = torch.nn.Linear(1, 1)
    handler.reload_objects({"model": fresh}, global_step=2)
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(FileNotFoundError, match=r"run_model_3\.pt"):
        handler.reload_objects({"model": fresh}, global_step=3)
    with pytest.raises(TypeError, match="reload_objects needs a DiskSaver"):
        Checkpoint({"model": model}, lambda checkpoint, filename: None).reload_objects({"model": fresh}, global_step=2)


class OneFileSaver(BaseSaveHandler):
    """A 'keep only model.pt' saver: every checkpoint goes to one file of its own name."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "model.pt"
        self.calls: list[tuple[str, str]] = []

    def __call__(self, checkpoint: Any, filename: str, metadata: Any = None) -> None:
        self.calls.append(("save", filename))
        torch.save(checkpoint, self.path)

    def remove(self, filename: str) -> None:
        self.calls.append(("remove", filename))
        self.path.unlink(missing_ok=True)


def test_a_saver_that_reuses_one_file_name_keeps_the_newest_checkpoint(tmp_path: Path) -> None:
    """As in ignite, the dropped checkpoint is removed before the new one is written."""
    saver = OneFileSaver(tmp_path)
    trainer = idle_trainer()
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"trainer": trainer}, saver, n_saved=1))
    trainer.run([0], max_epochs=3)
    assert names(tmp_path) == ["model.pt"] and torch.load(tmp_path / "model.pt")["iteration"] == 3
    assert saver.calls == [
        ("save", "trainer_1.pt"),
        ("remove", "trainer_1.pt"),
        ("save", "trainer_2.pt"),
        ("remove", "trainer_2.pt"),
        ("save", "trainer_3.pt"),
    ]


def test_a_saver_is_asked_to_remove_a_kept_file_before_it_is_saved_again_under_that_name(tmp_path: Path) -> None:
    """ignite's order with a fixed file name: remove(name), then save(name)."""
    saver = OneFileSaver(tmp_path)
    trainer = idle_trainer()
    with pytest.warns(UserWarning, match=r"has neither \{global_step\} nor \{score\}"):
        checkpoint = Checkpoint({"trainer": trainer}, saver, n_saved=2, filename_pattern="{name}.{ext}")
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=2)
    assert saver.calls == [("save", "trainer.pt"), ("remove", "trainer.pt"), ("save", "trainer.pt")]
    assert checkpoint.state_dict() == {"_saved": [(2, "trainer.pt")]}


def test_a_disk_saver_subclass_that_reuses_one_file_name_keeps_the_newest_checkpoint(tmp_path: Path) -> None:
    """A DiskSaver subclass writing every checkpoint as model.pt (still atomically) ends with that file."""

    class OneFileDiskSaver(DiskSaver):
        def __call__(self, checkpoint: Any, filename: str, metadata: Any = None) -> None:
            super().__call__(checkpoint, "model.pt", metadata)

        def remove(self, filename: str) -> None:
            super().remove("model.pt")

    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, OneFileDiskSaver(tmp_path), n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=3)
    assert names(tmp_path) == ["model.pt"] and load_checkpoint(tmp_path / "model.pt")["iteration"] == 3


def test_a_disk_saver_writes_the_new_file_before_it_deletes_the_dropped_one(tmp_path: Path) -> None:
    """ember's own DiskSaver keeps its crash safety: at no moment is the folder without a checkpoint."""
    seen: list[list[str]] = []

    class Watching(DiskSaver):
        def remove(self, filename: str) -> None:
            seen.append(names(tmp_path))
            super().remove(filename)

    saver = Watching(tmp_path)
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, saver, n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=2)
    # a DiskSaver subclass gets ignite's order (remove first) ...
    assert seen == [["trainer_1.pt"]] and names(tmp_path) == ["trainer_2.pt"]
    seen.clear()
    order: list[str] = []
    plain = DiskSaver(tmp_path / "plain")
    original_remove = plain.remove
    plain.remove = lambda filename: (order.append(str(names(tmp_path / "plain"))), original_remove(filename))  # type: ignore[method-assign]
    trainer = idle_trainer()
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"trainer": trainer}, plain, n_saved=1))
    trainer.run([0], max_epochs=2)
    # ... DiskSaver itself writes the new file first
    assert order == [str(["trainer_1.pt", "trainer_2.pt"])] and names(tmp_path / "plain") == ["trainer_2.pt"]


def test_a_saver_with_remove_that_is_no_base_save_handler_is_never_asked_to_remove(tmp_path: Path) -> None:
    """As in ignite, remove() is called only on a BaseSaveHandler; ember warns when an object has one."""

    class Duck:
        def __init__(self) -> None:
            self.files: dict[str, Any] = {}

        def __call__(self, checkpoint: Any, filename: str) -> None:
            self.files[filename] = checkpoint

        def remove(self, filename: str) -> None:
            del self.files[filename]

    store = Duck()
    trainer = idle_trainer()
    with pytest.warns(UserWarning, match=r"save_handler \(Duck\) has a remove\(\) method but is not a BaseSaveHandler"):
        checkpoint = Checkpoint({"trainer": trainer}, store, n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run([0], max_epochs=3)
    assert sorted(store.files) == ["trainer_1.pt", "trainer_2.pt", "trainer_3.pt"]
    assert checkpoint.last_checkpoint == "trainer_3.pt"


def test_ignites_item_and_kwargs_names(tmp_path: Path) -> None:
    """Checkpoint.Item is the (priority, filename) pair of the kept list; DiskSaver.kwargs the torch.save options."""
    trainer = idle_trainer()
    checkpoint = Checkpoint({"trainer": trainer}, tmp_path)
    checkpoint(trainer)
    item = checkpoint._saved[-1]
    assert isinstance(item, Checkpoint.Item) and (item.priority, item.filename) == (0, "trainer_0.pt")
    assert DiskSaver(tmp_path / "other", pickle_protocol=4).kwargs == {"pickle_protocol": 4}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", r"filename_pattern is empty"),
        ("runs/{name}_{global_step}.{ext}", r"holds a path separator.*DiskSaver\('runs/best'\)"),
        ("{name}\\{global_step}.{ext}", r"holds a path separator"),
        ("{name}_{score:.2f}.{ext}", r"cannot be formatted.*\{score\} with text.*drop the format spec"),
        ("{name}_{global_step", r"not a valid str.format pattern"),
    ],
)
def test_a_filename_pattern_that_cannot_name_a_file_is_refused_at_construction(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Checkpoint(
            {"m": torch.nn.Linear(1, 1)},
            lambda checkpoint, filename: None,
            score_function=lambda engine: 0.5,
            global_step_transform=lambda engine, event: 1,
            filename_pattern=pattern,
        )


def test_a_global_step_pattern_with_a_score_and_no_step_transform_warns_at_construction() -> None:
    # ignite names every file "model_None.pt" here; ember does the same (the differential tests pin it) but says so
    with pytest.warns(UserWarning, match=r"global step is None.*global_step_transform=global_step_from_engine"):
        Checkpoint(
            {"model": torch.nn.Linear(1, 1)},
            lambda checkpoint, filename: None,
            score_function=lambda engine: 0.5,
            filename_pattern="{name}_{global_step}.{ext}",
        )


@pytest.mark.parametrize(
    "pattern",
    ["{filename_prefix}_{name}_{global_step:04d}.{ext}", "{global_step}-{name}-{score}.pt", "{name}_{score:>8}.{ext}"],
)
def test_the_filename_patterns_ignite_formats_are_accepted(pattern: str) -> None:
    Checkpoint(
        {"m": torch.nn.Linear(1, 1)},
        lambda checkpoint, filename: None,
        score_function=lambda engine: 0.5,
        global_step_transform=lambda engine, event: 1,
        filename_pattern=pattern,
    )
