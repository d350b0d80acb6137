"""Prints the checkpoint file names Checkpoint writes for every combination of its naming options.

Run with ignite's or ember's package (``python checkpoint_names_script.py ignite|ember``); the table
printed by pytorch-ignite 0.5.5 is pinned in test_checkpoint_ignite.py, whose test runs this with
ember and compares. Each case runs 3 epochs of 2 iterations with a save at every epoch, n_saved=2.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from typing import Any

import torch


def cases() -> list[dict[str, Any]]:
    combos = itertools.product(
        ["", "best"],  # filename_prefix
        [None, "acc"],  # score_name
        [None, "float", "int"],  # score_function
        [False, True],  # global_step_transform
        [1, 2],  # objects in to_save
        [None, "{global_step}-{name}-{score}.{ext}"],  # filename_pattern
    )
    return [
        {"prefix": p, "score_name": sn, "score": sf, "gst": g, "objects": o, "pattern": pat}
        for p, sn, sf, g, o, pat in combos
    ]


def run(package: str) -> dict[str, Any]:
    if package == "ignite":
        from ignite.engine import Engine, Events
        from ignite.handlers import Checkpoint
    else:
        from ember.engine import Engine, Events
        from ember.handlers import Checkpoint
    results: dict[str, Any] = {}
    for case in cases():
        trainer = Engine(lambda engine, batch: None)
        scores = iter([0.5, 0.9, 0.7] if case["score"] != "int" else [5, 9, 7])

        @trainer.on(Events.EPOCH_COMPLETED)
        def set_metric(engine: Any) -> None:
            engine.state.metrics["acc"] = [0.25, 0.75, 0.5][engine.state.epoch - 1]

        score_function = None if case["score"] is None else (lambda engine, scores=scores: next(scores))
        to_save = {"model": torch.nn.Linear(1, 1)}
        if case["objects"] == 2:
            to_save["trainer"] = trainer
        with tempfile.TemporaryDirectory() as folder:
            try:
                checkpoint = Checkpoint(
                    to_save,
                    folder,
                    filename_prefix=case["prefix"],
                    score_function=score_function,
                    score_name=case["score_name"],
                    n_saved=2,
                    global_step_transform=(lambda engine, event: engine.state.epoch * 10) if case["gst"] else None,
                    filename_pattern=case["pattern"],
                )
                trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
                trainer.run([0, 0], max_epochs=3)
                outcome: Any = sorted(name for name in os.listdir(folder) if not name.startswith("."))
            except Exception as error:  # the table records which combinations fail, and how
                outcome = f"error: {type(error).__name__}"
        results[json.dumps(case, sort_keys=True)] = outcome
    return results


if __name__ == "__main__":
    json.dump(run(sys.argv[1]), sys.stdout, indent=0, sort_keys=True)
