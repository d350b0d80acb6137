"""The digits example trains to a useful accuracy on the real scikit-learn data set."""

from __future__ import annotations

import pytest

from ember.examples import digits


def test_digits_example_learns(capsys: pytest.CaptureFixture[str]) -> None:
    final_accuracy = digits.main(["--epochs", "4", "--seed", "1"])
    assert final_accuracy > 0.9
    out = capsys.readouterr().out
    assert "epoch  4" in out and "validation accuracy" in out
