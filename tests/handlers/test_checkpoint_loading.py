"""Checkpoint.load_objects says what went wrong: which to_load entry, what the file holds (issue 17, section 2).

Each case is run through pytorch-ignite as well where ignite has an answer: ember's result (the weights
loaded, or the exception type) stays ignite's, and only the message or a warning is added.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from ignite.handlers import Checkpoint as IgniteCheckpoint

from ember import Engine
from ember.handlers import Checkpoint


def trainer() -> Engine:
    return Engine(lambda engine, batch: None)


def small_model() -> torch.nn.Module:
    return torch.nn.Linear(3, 2)


def other_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_strict_false_loading_no_key_warns_naming_the_object_and_loads_what_ignite_loads() -> None:
    checkpoint = {"model": other_model().state_dict()}
    ours, theirs = small_model(), small_model()
    theirs.load_state_dict(ours.state_dict())
    with pytest.warns(UserWarning, match=r"loaded nothing into to_load\['model'\] \(Linear\).*'0\.weight' \[3, 4\]"):
        Checkpoint.load_objects({"model": ours}, checkpoint, strict=False)
    IgniteCheckpoint.load_objects({"model": theirs}, checkpoint, strict=False)
    assert same(weights(ours), weights(theirs))


def test_strict_false_loading_some_keys_does_not_warn() -> None:
    source = torch.nn.Sequential(torch.nn.Linear(2, 2))
    target = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Checkpoint.load_objects({"model": target}, {"model": source.state_dict()}, strict=False)
    assert torch.equal(target[0].weight, source[0].weight)


def test_swapped_names_say_which_entry_holds_what() -> None:
    """An optimizer's entry loaded into the model: the same exception type as ignite's, with a message that says so."""
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    swapped = {"model": optimizer.state_dict(), "optimizer": model.state_dict()}
    with pytest.raises(RuntimeError):
        IgniteCheckpoint.load_objects({"model": small_model(), "optimizer": optimizer}, swapped)
    with pytest.raises(RuntimeError, match=r"to_load\['model'\] \(Linear\).*an optimizer's state dict.*swapped"):
        Checkpoint.load_objects({"model": small_model(), "optimizer": optimizer}, swapped)


def test_a_models_entry_loaded_into_an_optimizer_is_a_clear_value_error() -> None:
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(
        ValueError, match=r"to_load\['optimizer'\] is an optimizer \(SGD\).*'weight' \[2, 3\].*a model's state dict"
    ):
        Checkpoint.load_objects(
            {"model": model, "optimizer": optimizer}, {"model": model.state_dict(), "optimizer": model.state_dict()}
        )


def test_a_checkpoint_of_another_model_lists_what_the_file_holds(tmp_path: Path) -> None:
    Checkpoint({"model": other_model()}, tmp_path)(trainer())
    with pytest.raises(RuntimeError, match=r"to_load\['model'\] \(Linear\).*Missing key.*'0\.weight' \[3, 4\]"):
        Checkpoint.load_objects({"model": small_model()}, tmp_path / "model_0.pt")


def test_every_tensor_of_another_shape_is_named_with_both_shapes(tmp_path: Path) -> None:
    Checkpoint({"model": torch.nn.Linear(3, 2)}, tmp_path)(trainer())
    with pytest.raises(ValueError) as raised:
        Checkpoint.load_objects({"model": torch.nn.Linear(3, 4)}, tmp_path / "model_0.pt")
    message = str(raised.value)
    assert "model.weight has shape [2, 3] in the checkpoint but [4, 3]" in message
    assert "model.bias has shape [2] in the checkpoint but [4]" in message


def test_the_optimizer_of_another_model_names_the_group_sizes() -> None:
    big = other_model()
    saved = torch.optim.SGD(big.parameters(), lr=0.1).state_dict()
    optimizer = torch.optim.SGD(small_model().parameters(), lr=0.1)
    with pytest.raises(ValueError):
        IgniteCheckpoint.load_objects({"optimizer": optimizer}, {"optimizer": saved, "x": {}})
    with pytest.raises(ValueError, match=r"to_load\['optimizer'\] \(SGD\) has parameter groups of \[2\].*\[4\]"):
        Checkpoint.load_objects({"optimizer": optimizer}, {"optimizer": saved, "x": {}})


@pytest.mark.parametrize("requested", ["optimizer", "model"])
def test_a_file_without_the_requested_entry_names_the_entries_it_holds(tmp_path: Path, requested: str) -> None:
    model = small_model()
    Checkpoint({"net": model, "trainer": trainer()}, tmp_path)(trainer())
    target: Any = torch.optim.SGD(model.parameters(), lr=0.1) if requested == "optimizer" else small_model()
    with pytest.raises(
        ValueError if requested == "optimizer" else RuntimeError,
        match=rf"no entry '{requested}'.*holds the entries \['net', 'trainer'\]",
    ):
        Checkpoint.load_objects({requested: target}, tmp_path / "checkpoint_0.pt")


def test_a_missing_key_of_several_names_what_the_file_holds(tmp_path: Path) -> None:
    Checkpoint({"model": small_model(), "trainer": trainer()}, tmp_path)(trainer())
    to_load = {"model": small_model(), "optimizer": torch.optim.SGD(small_model().parameters(), lr=0.1)}
    with pytest.raises(ValueError, match=r"missing \['optimizer'\].*holds the entries \['model', 'trainer'\]"):
        Checkpoint.load_objects(to_load, tmp_path / "checkpoint_0.pt")


@pytest.mark.parametrize(
    "map_location",
    ["cpu", torch.device("cpu"), {"cpu": "cpu"}, lambda storage, location: storage],
    ids=["str", "device", "dict", "callable"],
)
def test_map_location_is_where_the_files_tensors_go(tmp_path: Path, map_location: Any) -> None:
    model = small_model()
    Checkpoint({"model": model, "trainer": trainer()}, tmp_path)(trainer())
    for checkpoint in (tmp_path / "checkpoint_0.pt", torch.load(tmp_path / "checkpoint_0.pt")):
        fresh = small_model()
        Checkpoint.load_objects({"model": fresh}, checkpoint, map_location=copy.copy(map_location))
        assert same(weights(fresh), weights(model))


def test_an_unknown_keyword_is_refused_before_anything_is_loaded() -> None:
    model = small_model()
    before = weights(model)
    with pytest.raises(TypeError, match=r"unknown keyword arguments \['map_locaton'\].*assign"):
        Checkpoint.load_objects({"model": model}, {"model": small_model().state_dict()}, map_locaton="cpu")
    assert same(weights(model), before)
