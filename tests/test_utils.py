"""ember.utils: ignite's utility names (values checked by hand) and ember's nested-tensor helpers."""

from __future__ import annotations

import io
import logging
import random
from collections import OrderedDict, namedtuple
from pathlib import Path
from typing import Any

import numpy
import pytest
import torch

from ember.utils import (
    apply_to_tensor,
    apply_to_tensors,
    apply_to_type,
    convert_tensor,
    iter_tensors,
    manual_seed,
    setup_logger,
    to_onehot,
)

Pair = namedtuple("Pair", "first second")


# ---------------------------------------------------------------------------------------------- to_onehot


def test_to_onehot_of_a_vector() -> None:
    onehot = to_onehot(torch.tensor([0, 2, 1, 2]), num_classes=3)
    assert onehot.dtype == torch.uint8
    assert onehot.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]


def test_to_onehot_puts_the_classes_in_dimension_one() -> None:
    indices = torch.tensor([[0, 1, 1], [2, 0, 1]])  # (N=2, 3)
    onehot = to_onehot(indices, num_classes=4)
    assert onehot.shape == (2, 4, 3)
    assert onehot[1, :, 0].tolist() == [0, 0, 1, 0]  # sample 1, position 0 is class 2
    assert onehot[0, :, 2].tolist() == [0, 1, 0, 0]
    assert onehot.sum(dim=1).eq(1).all()


@pytest.mark.parametrize(
    ("indices", "num_classes", "error", "message"),
    [
        (torch.tensor([0.0, 1.0]), 2, TypeError, r"indices must be an integer tensor.*dtype torch.float32"),
        ([0, 1], 2, TypeError, r"indices must be an integer tensor of class indices, got list"),
        (torch.tensor([0, 1]), 2.0, TypeError, r"num_classes must be an integer, got 2.0"),
        (torch.tensor([0, 1]), 0, ValueError, r"num_classes must be >= 1, got 0"),
        (torch.tensor(1), 2, ValueError, r"indices must have a batch dimension"),
    ],
)
def test_to_onehot_rejects_bad_input(indices: Any, num_classes: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        to_onehot(indices, num_classes)


# ---------------------------------------------------------------------------------------------- apply_to_type & co


def test_apply_to_type_rebuilds_every_kind_of_container() -> None:
    value = {"list": [1, 2.5], "tuple": (3,), "pair": Pair(4, "text"), "ordered": OrderedDict(a=5), "bytes": b"x"}
    result = apply_to_type(value, (int, float), lambda number: number * 10)
    assert result == {"list": [10, 25.0], "tuple": (30,), "pair": Pair(40, "text"), "ordered": {"a": 50}, "bytes": b"x"}
    assert type(result["pair"]) is Pair and type(result["ordered"]) is OrderedDict


def test_apply_to_type_refuses_a_value_of_another_type_as_ignite_does() -> None:
    with pytest.raises(TypeError, match=r"x must hold only values of type Tensor.*but it holds a int \(3\)"):
        apply_to_tensor([torch.ones(1), 3], lambda tensor: tensor)
    with pytest.raises(TypeError, match=r"holds a set"):
        apply_to_type({1}, int, lambda number: number)


def test_apply_to_tensor_and_convert_tensor() -> None:
    value = (torch.ones(2), {"y": [torch.zeros(1)]}, "id")
    doubled = apply_to_tensor(value, lambda tensor: tensor * 2)
    assert doubled[0].tolist() == [2.0, 2.0] and doubled[1]["y"][0].tolist() == [0.0] and doubled[2] == "id"
    moved = convert_tensor(value, device="meta")
    assert moved[0].device.type == "meta" and moved[1]["y"][0].device.type == "meta" and moved[2] == "id"
    assert convert_tensor(value)[0] is value[0]  # device=None moves nothing
    assert convert_tensor(torch.ones(1), torch.device("meta")).is_meta


def test_ember_apply_to_tensors_leaves_other_values_alone() -> None:
    """ember's own helper is the lenient one: non-tensors pass through (ignite's refuses them)."""
    result = apply_to_tensors([torch.ones(1), 3, None], lambda tensor: tensor + 1)
    assert result[0].tolist() == [2.0] and result[1:] == [3, None]
    assert [path for path, _ in iter_tensors({"a": (torch.ones(1), 2, torch.zeros(1))})] == ["['a'][0]", "['a'][2]"]


# ---------------------------------------------------------------------------------------------- manual_seed


def test_manual_seed_seeds_python_numpy_and_torch() -> None:
    manual_seed(42)
    first = (random.random(), float(numpy.random.rand()), float(torch.rand(1)))
    random.random(), numpy.random.rand(), torch.rand(1)
    manual_seed(42)
    assert (random.random(), float(numpy.random.rand()), float(torch.rand(1))) == first
    # the same numbers as seeding each library by hand
    random.seed(42)
    numpy.random.seed(42)
    torch.manual_seed(42)
    assert (random.random(), float(numpy.random.rand()), float(torch.rand(1))) == first


def test_manual_seed_takes_seeds_beyond_numpys_32_bits_and_refuses_non_integers() -> None:
    seed = 2**40 + 1  # numpy.random.seed itself refuses seeds of more than 32 bits
    manual_seed(seed)
    drawn = random.random()
    random.seed(seed)
    assert random.random() == drawn
    with pytest.raises(TypeError, match=r"seed must be an integer, got 1.5"):
        manual_seed(1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- setup_logger


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> Any:
    name = f"ember.test.{request.node.name}"
    yield name
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_setup_logger_writes_formatted_lines_at_its_level_and_does_not_propagate(logger_name: str) -> None:
    stream = io.StringIO()
    logger = setup_logger(
        logger_name, level=logging.WARNING, stream=stream, format="%(name)s|%(levelname)s|%(message)s"
    )
    logger.info("hidden")
    logger.warning("shown")
    assert stream.getvalue() == f"{logger_name}|WARNING|shown\n"
    assert logger.propagate is False and logger.level == logging.WARNING


def test_setup_logger_twice_keeps_the_first_configuration_unless_reset(logger_name: str) -> None:
    first, second, third = io.StringIO(), io.StringIO(), io.StringIO()
    setup_logger(logger_name, stream=first, format="A %(message)s")
    logger = setup_logger(logger_name, stream=second, format="B %(message)s")
    logger.info("one")
    assert first.getvalue() == "A one\n" and second.getvalue() == ""
    logger = setup_logger(logger_name, stream=third, format="C %(message)s", reset=True)
    logger.info("two")
    assert first.getvalue() == "A one\n" and third.getvalue() == "C two\n" and len(logger.handlers) == 1


def test_setup_logger_also_writes_to_a_file(logger_name: str, tmp_path: Path) -> None:
    stream = io.StringIO()
    path = tmp_path / "run.log"
    setup_logger(logger_name, stream=stream, format="%(message)s", filepath=str(path)).info("épisode")
    assert stream.getvalue() == "épisode\n" and path.read_text(encoding="utf-8") == "épisode\n"


def test_setup_logger_of_a_rank_above_zero_prints_nothing(logger_name: str) -> None:
    stream = io.StringIO()
    logger = setup_logger(logger_name, stream=stream, distributed_rank=1)
    logger.info("info")
    logger.error("even errors")
    assert stream.getvalue() == ""
    zero = io.StringIO()
    setup_logger(logger_name, stream=zero, distributed_rank=0, format="%(message)s", reset=True).info("rank 0")
    assert zero.getvalue() == "rank 0\n"


def test_setup_logger_shows_an_engines_progress(logger_name: str) -> None:
    from ember.engine import Engine

    stream = io.StringIO()
    engine = Engine(lambda engine, batch: None)
    engine.logger = setup_logger(logger_name, stream=stream, format="%(message)s")
    engine.run([1, 2], max_epochs=2)
    assert stream.getvalue() != ""
