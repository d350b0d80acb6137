"""ProgressBar: what a real tqdm writes to a StringIO or a pseudo-terminal, on real runs."""

from __future__ import annotations

import io
import os
import pty
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from ember.engine import Engine, Events
from ember.handlers import ProgressBar


def last_draw(output: str, label: str) -> str:
    """The last line tqdm drew for the bar labelled ``label``."""
    draws = [part for part in re.split(r"[\r\n]", output) if part.startswith(label)]
    assert draws, f"no bar labelled {label!r} in {output!r}"
    return draws[-1]


class Unsized:
    """Data without a length: the engine learns the epoch length when it runs out."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.count))


def test_bar_per_epoch_with_loss_and_metrics() -> None:
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: torch.tensor(0.25))

    @engine.on(Events.EPOCH_COMPLETED)
    def compute(engine: Engine) -> None:
        engine.state.metrics["accuracy"] = 0.75
        engine.state.metrics["confusion"] = torch.eye(2)

    ProgressBar(file=stream, force=True, ncols=120).attach(engine, metric_names=["accuracy"])
    engine.run(range(10), max_epochs=2)
    output = stream.getvalue()
    first, second = last_draw(output, "Epoch [1/2]"), last_draw(output, "Epoch [2/2]")
    assert "100%" in first and "10/10" in first
    assert "loss=0.25" in first and "accuracy=0.75" in first
    assert "10/10" in second and "confusion" not in output
    assert "it/s" in second  # the rate, from which tqdm's ETA comes


def test_eta_is_shown_while_the_epoch_runs() -> None:
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: time.sleep(0.01))
    ProgressBar(file=stream, force=True, refresh_interval=0.02).attach(engine)
    engine.run(range(20))
    mid_epoch = [part for part in stream.getvalue().split("\r") if "/20 [" in part and "20/20" not in part]
    assert any(re.search(r"<00:0\d,", part) for part in mid_epoch), mid_epoch


def test_single_epoch_label_and_custom_desc() -> None:
    stream = io.StringIO()
    engine = Engine()
    ProgressBar(desc="Training", file=stream, force=True).attach(engine)
    engine.run(range(3))
    assert "3/3" in last_draw(stream.getvalue(), "Training:")


def test_output_transform_and_all_metrics() -> None:
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: {"nll": 1.5, "kl": torch.tensor([0.5]), "name": "x"})
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: e.state.metrics.update(f1=0.5, tag="t"))
    ProgressBar(file=stream, force=True, ncols=150).attach(engine, metric_names="all")
    engine.run(range(2))
    line = last_draw(stream.getvalue(), "Epoch")
    assert "nll=1.5" in line and "kl=0.5" in line and "f1=0.5" in line
    assert "name=" not in line and "tag=" not in line  # not numbers: left out of "all"

    stream = io.StringIO()
    engine = Engine(lambda engine, batch: (torch.tensor(2.0), torch.zeros(3)))
    ProgressBar(file=stream, force=True).attach(engine, output_transform=lambda output: output[0])
    engine.run(range(2))
    assert "loss=2" in last_draw(stream.getvalue(), "Epoch")


def test_output_transform_returning_a_non_number_fails_clearly() -> None:
    engine = Engine()
    ProgressBar(file=io.StringIO(), force=True).attach(engine, output_transform=lambda output: [output])
    with pytest.raises(TypeError, match=r"output_transform returned \[1\] \(list\); expected a number or a dict"):
        engine.run(range(2))


def test_an_explicit_file_is_drawn_to_even_when_it_is_not_a_terminal() -> None:
    """As in ignite: ProgressBar(file=...) writes there, whatever the file is."""
    stream = io.StringIO()
    engine = Engine()
    ProgressBar(file=stream).attach(engine)
    engine.run(range(5), max_epochs=2)
    assert "5/5" in last_draw(stream.getvalue(), "Epoch [2/2]")


def test_stderr_that_is_not_a_terminal_gets_nothing_unless_forced(capsys: pytest.CaptureFixture[str]) -> None:
    """Without file=, a job whose stderr is a log file is not filled with redraws (capsys' stderr is no terminal)."""
    engine = Engine()
    ProgressBar().attach(engine)
    engine.run(range(5), max_epochs=2)
    assert capsys.readouterr().err == ""
    engine = Engine()
    ProgressBar(force=True).attach(engine)
    engine.run(range(5))
    assert "5/5" in last_draw(capsys.readouterr().err, "Epoch")


def test_a_terminal_gets_the_bar_without_force() -> None:
    """A pseudo-terminal is a terminal: the bar draws there with no force=True."""
    main, secondary = pty.openpty()
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 1024)
            except OSError:  # the terminal was closed
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with os.fdopen(secondary, "w") as terminal:
        engine = Engine(lambda engine, batch: 0.5)
        ProgressBar(file=terminal).attach(engine)
        engine.run(range(7))
        terminal.flush()
        deadline = time.monotonic() + 5
        while b"7/7" not in b"".join(received) and time.monotonic() < deadline:
            time.sleep(0.01)
    os.close(main)
    reader.join(timeout=5)
    output = b"".join(received).decode()
    assert "7/7" in last_draw(output, "Epoch") and "loss=0.5" in output


def test_unknown_length_counts_without_total() -> None:
    stream = io.StringIO()
    engine = Engine()
    ProgressBar(file=stream, force=True).attach(engine)
    engine.run(Unsized(6), max_epochs=2)
    output = stream.getvalue()
    first, second = last_draw(output, "Epoch [1/2]"), last_draw(output, "Epoch [2/2]")
    assert re.search(r"Epoch \[1/2\]: 6it ", first) and "%" not in first  # no total known yet
    assert "100%" in second and "6/6" in second  # learned at the end of the first pass


def test_evaluator_inside_training_gets_its_own_bar_below() -> None:
    stream = io.StringIO()
    trainer = Engine(lambda engine, batch: 0.5)
    evaluator = Engine()
    ProgressBar(file=stream, force=True).attach(trainer)
    ProgressBar(desc="Validation", file=stream, force=True).attach(evaluator)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=5), lambda: evaluator.run(range(3)))
    trainer.run(range(10))
    output = stream.getvalue()
    assert "3/3" in last_draw(output, "Validation")
    assert "10/10" in last_draw(output, "Epoch")
    # tqdm drew the validation bar one line below the open training bar, then moved back up
    assert "\n" + "Validation" in output.replace("\r", "") and "\x1b[A" in output
    assert output.count("Validation: 100%") >= 2  # once per evaluation


def test_redraws_are_bounded_by_the_refresh_interval() -> None:
    """100,000 fast iterations draw a handful of times, not once per iteration."""
    stream = io.StringIO()
    engine = Engine()
    ProgressBar(file=stream, force=True, refresh_interval=30.0).attach(engine)
    engine.run(range(100_000))
    # the bar drawn when opened, the final draw, and tqdm's close: nothing in between
    assert stream.getvalue().count("\r") <= 4
    assert "100000/100000" in last_draw(stream.getvalue(), "Epoch")


def test_refreshes_while_slow_iterations_run() -> None:
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: time.sleep(0.005))
    ProgressBar(file=stream, force=True, refresh_interval=0.02).attach(engine)
    engine.run(range(40))
    counts = {int(m) for m in re.findall(r"\| (\d+)/40 \[", stream.getvalue())}
    assert len(counts - {0, 40}) >= 3  # several intermediate positions were drawn


def test_terminated_run_shows_where_it_stopped() -> None:
    stream = io.StringIO()
    engine = Engine()
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda e: e.terminate())
    ProgressBar(file=stream, force=True).attach(engine)
    engine.run(range(10))
    assert "3/10" in last_draw(stream.getvalue(), "Epoch")


def test_interrupted_run_resumes_its_bar() -> None:
    stream = io.StringIO()
    engine = Engine()
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: e.interrupt())
    ProgressBar(file=stream, force=True).attach(engine)
    engine.run(range(10), max_epochs=2)
    assert "4/10" in last_draw(stream.getvalue(), "Epoch [1/2]")
    engine.run()
    output = stream.getvalue()
    assert "10/10" in last_draw(output, "Epoch [1/2]") and "10/10" in last_draw(output, "Epoch [2/2]")


def test_run_resumed_from_a_checkpoint_mid_epoch() -> None:
    first = Engine()
    first.add_event_handler(Events.ITERATION_COMPLETED(once=13), lambda e: e.interrupt())
    first.run(range(10), max_epochs=2)
    saved = first.state_dict()

    stream = io.StringIO()
    engine = Engine()
    ProgressBar(file=stream, force=True).attach(engine)
    engine.load_state_dict(saved)
    engine.run(range(10))
    line = last_draw(stream.getvalue(), "Epoch [2/2]")
    assert "10/10" in line
    assert "Epoch [1/2]" not in stream.getvalue()


def test_max_iters_last_epoch_is_partial() -> None:
    stream = io.StringIO()
    engine = Engine()
    ProgressBar(file=stream, force=True).attach(engine)
    engine.run(range(10), max_iters=14)
    assert "4/4" in last_draw(stream.getvalue(), "Epoch [2/2]")


def test_exception_closes_the_bar() -> None:
    stream = io.StringIO()

    def fail_at_three(engine: Engine, batch: Any) -> None:
        if engine.state.iteration == 3:
            raise ZeroDivisionError("boom")

    engine = Engine(fail_at_three)
    bar = ProgressBar(file=stream, force=True)
    bar.attach(engine)
    with pytest.raises(ZeroDivisionError):
        engine.run(range(10))
    assert bar.bar is None
    drawn = len(stream.getvalue())
    state = engine.run(range(10))  # the failed run goes on (as in ignite): the bar reopens where it stopped
    assert f"{state.iteration}/10" in last_draw(stream.getvalue()[drawn:], "Epoch")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"desc": 3}, TypeError, r"desc must be a string or None, got desc=3"),
        ({"persist": "yes"}, TypeError, r"persist must be True, False or None, got persist='yes'"),
        ({"force": 1}, TypeError, r"force must be True or False, got force=1"),
        ({"file": "out.txt"}, TypeError, r"file must be a text stream with a write method .* got 'out.txt' \(str\)"),
        ({"refresh_interval": "fast"}, TypeError, r"refresh_interval must be a number of seconds"),
        (
            {"refresh_interval": 0},
            ValueError,
            r"refresh_interval must be a positive number of seconds, got refresh_interval=0\. Pass e\.g\.",
        ),
        ({"total": 5}, ValueError, r"tqdm_kwargs may not set \['total'\]"),
    ],
)
def test_constructor_rejects_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ProgressBar(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric_names": "accuracy"}, r"metric_names must be a list of metric names or 'all', got 'accuracy'"),
        ({"metric_names": ["a", 1]}, r"metric_names must hold strings .* got \[1\]"),
        ({"output_transform": "loss"}, r"output_transform must be a callable, got 'loss' \(str\)"),
        ({"state_attributes": "lr"}, r"state_attributes must be a list of engine.state attribute names, got 'lr'"),
    ],
)
def test_attach_rejects_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        ProgressBar(file=io.StringIO(), force=True).attach(Engine(), **kwargs)


def test_attach_errors() -> None:
    bar = ProgressBar(file=io.StringIO(), force=True)
    with pytest.raises(TypeError, match=r"ProgressBar.attach expects an ember Engine, got None"):
        bar.attach(None)  # type: ignore[arg-type]
    engine = Engine()
    bar.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to an engine; .* create another ProgressBar"):
        bar.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached"):
        bar.attach(Engine())


def test_without_tqdm_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # what `import tqdm` meets when tqdm is not installed
    with pytest.raises(ImportError, match=r"ProgressBar draws with tqdm, which is not installed. .*ember\[progress\]"):
        ProgressBar()


def test_drawing_starts_no_background_thread() -> None:
    before = set(threading.enumerate())
    engine = Engine()
    ProgressBar(file=io.StringIO(), force=True).attach(engine)
    engine.run(range(50), max_epochs=2)
    assert set(threading.enumerate()) <= before


# ---------------------------------------------------------------- ignite's spelling


def test_ignite_constructor_attach_and_log_message() -> None:
    """ProgressBar(persist, bar_format, **tqdm_kwargs) and attach(metric_names, output_transform, state_attributes)."""
    stream = io.StringIO()
    trainer = Engine(lambda engine, batch: 0.5)
    trainer.state.alpha = 0.25

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        engine.state.metrics["accuracy"] = 0.75
        pbar.log_message(f"Validation Results - Epoch: {engine.state.epoch}")

    pbar = ProgressBar(True, "{desc}|{n_fmt}of{total_fmt}|{postfix}", desc="Train", file=stream)
    pbar.attach(
        trainer,
        metric_names=["accuracy"],
        output_transform=lambda loss: {"loss": loss},
        state_attributes=["alpha"],
    )
    trainer.run(range(5), max_epochs=2)
    output = stream.getvalue()
    assert "5of5" in last_draw(output, "Train [2/2]|")
    assert "loss=0.5" in output and "alpha=0.25" in output and "accuracy=0.75" in output
    lines = re.split(r"[\r\n]", output)  # tqdm clears the bar's line, writes the message, redraws below
    assert "Validation Results - Epoch: 1" in lines and "Validation Results - Epoch: 2" in lines


def test_log_message_writes_to_stdout_even_where_no_bar_is_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    """As in ignite (tqdm.write's default), so `python train.py > log.txt` keeps the messages."""
    ProgressBar().log_message("checkpoint saved")
    assert capsys.readouterr() == ("checkpoint saved\n", "")


def test_log_message_writes_to_stdout_while_the_bar_is_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine(lambda engine, batch: None)
    pbar = ProgressBar(force=True)
    pbar.attach(engine)
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda: pbar.log_message("epoch done"))
    engine.run(range(3))
    out, err = capsys.readouterr()
    assert out == "epoch done\n" and "3/3" in err and "epoch done" not in err


def test_a_bar_of_epochs_closed_at_completed() -> None:
    """ignite: attach(engine, event_name=Events.EPOCH_COMPLETED, closing_event_name=Events.COMPLETED)."""
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: None)
    ProgressBar(file=stream, desc="Epochs").attach(
        engine, event_name=Events.EPOCH_COMPLETED, closing_event_name=Events.COMPLETED
    )
    engine.run(range(4), max_epochs=3)
    output = stream.getvalue()
    assert "3/3" in last_draw(output, "Epochs:")
    assert output.count("\n") == 1  # one bar for the run, not one per epoch


def test_a_filtered_event_advances_the_bar_when_it_fires() -> None:
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: torch.tensor([1.0, 2.0]))
    ProgressBar(file=stream, refresh_interval=1e-9).attach(
        engine, event_name=Events.ITERATION_COMPLETED(every=2), output_transform=lambda output: {"parts": output}
    )
    engine.run(range(6), max_epochs=2)
    output = stream.getvalue()
    counts = {match for match in re.findall(r"\| (\d)/6", output)}
    assert counts <= {"0", "2", "4", "6"} and "6" in counts
    assert "parts_0=1" in output and "parts_1=2" in output  # a 1-D tensor: one entry per element


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"closing_event_name": Events.EPOCH_COMPLETED(every=2)}, r"closing_event_name=.* is a filtered event"),
        (
            {"event_name": Events.EPOCH_COMPLETED, "closing_event_name": Events.EPOCH_COMPLETED},
            r"advances on EPOCH_COMPLETED but closes on EPOCH_COMPLETED, which does not come after it",
        ),
        ({"event_name": "my_event"}, r"event_name='my_event' is not an event registered on this engine"),
    ],
)
def test_ignite_event_arguments_are_checked_at_attach(kwargs: dict[str, Any], match: str) -> None:
    engine = Engine()
    with pytest.raises(ValueError, match=match):
        ProgressBar(file=io.StringIO()).attach(engine, **kwargs)


def test_ignites_pbar_name_and_close() -> None:
    """pbar is the open tqdm bar (ignite's name for bar), None between epochs; close() closes it."""
    stream = io.StringIO()
    engine = Engine(lambda engine, batch: None)
    pbar = ProgressBar(file=stream)
    pbar.attach(engine)
    seen: list[Any] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda: seen.append(pbar.pbar))
    engine.run(range(4))
    assert seen[0] is not None and hasattr(seen[0], "update") and pbar.pbar is None
    pbar.close()  # nothing open: nothing to do
