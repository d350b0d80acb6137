"""The digits example trains to a useful accuracy on the real scikit-learn data set, and resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.examples import digits


def test_digits_example_learns_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = digits.main(["--epochs", "3", "--seed", "1", "--output-dir", str(tmp_path)])
    assert first["accuracy"] > 0.9
    out = capsys.readouterr().out
    assert "epoch  3" in out and "resuming" not in out
    assert len(list((tmp_path / "last").glob("checkpoint_*.pt"))) == 2
    assert len(list((tmp_path / "best").glob("best_model_*_accuracy=*.pt"))) == 1

    # the same command again continues the finished run: nothing left to train, same model
    again = digits.main(["--epochs", "3", "--seed", "1", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "resuming from" in out and "epoch  1" not in out
    assert again == first

    # asking for more epochs trains on from the checkpoint
    more = digits.main(["--epochs", "5", "--seed", "1", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "epoch  4" in out and "epoch  1 " not in out
    assert more["accuracy"] > 0.9


def test_digits_example_in_a_temporary_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert digits.main(["--epochs", "2"])["accuracy"] > 0.85
    assert "done at epoch 2" in capsys.readouterr().out
