"""Plain-file loggers: :class:`CSVLogger` and :class:`JSONLLogger`, one row per logging event.

Both write a row each time a log handler fires, with the columns ``step``, ``event`` (the name of
the event that fired, e.g. ``ITERATION_COMPLETED``), ``wall_time`` (seconds since the epoch) and
one column per logged name (``train/loss``, ``validation/accuracy``, ...). They need nothing
beyond the standard library, and both load with pandas (``pandas.read_csv(path)``,
``pandas.read_json(path, lines=True)``) or :func:`read_history`.

A log survives a kill: each row reaches the operating system as it is written, and a run resumed
from a checkpoint drops the rows logged after that checkpoint before it logs them again, so the
resumed run's file holds the rows of the uninterrupted run. A last line cut short (a full disk, a
power loss) is dropped with a warning; it never glues to the next row.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ember._atomic import write_atomic
from ember.engine import Engine
from ember.handlers.loggers.base import BaseLogger, _row_prefix, writable_folder

__all__ = ["CSVLogger", "JSONLLogger", "read_history"]

_log = logging.getLogger(__name__)

#: The columns every row has, before the logged names.
FIXED_COLUMNS = ("step", "event", "wall_time")

# The file loggers alive in this process, by the real path of their file: one path, one writer.
_writers: weakref.WeakValueDictionary[str, _FileLogger] = weakref.WeakValueDictionary()


def _epochs_done(engine: Engine) -> int:
    """How many epochs of ``engine`` had ended where its run resumes (an epoch saved before its end has not)."""
    epoch = int(engine.state.epoch or 0)
    try:
        ended = bool(engine.state_dict().get("epoch_completed", True))
    except AttributeError:  # a state_dict_user_keys attribute not set yet: count whole epochs instead
        epoch_length = engine.state.epoch_length
        return int(engine.state.iteration) // epoch_length if epoch_length else epoch
    return epoch if ended else epoch - 1


def _drop_torn_tail(path: Path, owner: str) -> None:
    """Cut a last line that has no line end (its write was cut short) off ``path``, with a warning."""
    with open(path, "rb") as handle:
        data = handle.read()
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    torn = data[keep:].decode("utf-8", errors="replace")
    warnings.warn(
        f"{owner}: the last line of {str(path)!r} was cut short (its write did not finish: a full disk, a power "
        f"loss or a kill): {torn[:80]!r}. That line is dropped; the rows before it are kept.",
        UserWarning,
        stacklevel=4,
    )
    with open(path, "r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


class _FileLogger(BaseLogger):
    """Rows appended to one text file, each flushed to the operating system as written, released at a run's end."""

    def __init__(self, path: str | os.PathLike[str], append: bool) -> None:
        super().__init__()
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._key: str | None = None
        self._renamed: set[str] = set()
        if not self.writes:
            return
        if self.path.is_dir():
            raise IsADirectoryError(
                f"{type(self).__name__} writes one file, but {str(self.path)!r} is a folder. "
                f"Pass a file path such as {str(self.path / 'metrics')!r} plus the extension."
            )
        writable_folder(self.path.parent, type(self).__name__)
        key = os.path.realpath(self.path)
        other = _writers.get(key)
        if other is not None and not other._closed:
            raise ValueError(
                f"{type(other).__name__} already writes {str(self.path)!r} in this process; a second logger on the "
                "same file would overwrite its rows. Attach the one logger to every engine (a trainer and an "
                "evaluator can log to one logger), give each logger its own file, or close() the first one before "
                "creating this one."
            )
        _writers[key] = self
        self._key = key
        if not append and self.path.exists():
            self.path.unlink()
        if self.path.exists():
            _drop_torn_tail(self.path, type(self).__name__)

    def _name(self, name: str) -> str:
        """The column of a logged name: a fixed column's name is moved to ``logged_<name>``, loudly."""
        if name not in FIXED_COLUMNS:
            return name
        if name not in self._renamed:
            self._renamed.add(name)
            warnings.warn(
                f"{type(self).__name__} writes the logged value {name!r} as 'logged_{name}': {name!r} is a column "
                f"that every row has ({', '.join(FIXED_COLUMNS)}). Log it under another name to choose its column.",
                UserWarning,
                stacklevel=4,
            )
        return f"logged_{name}"

    def _open(self) -> IO[str]:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - held across calls
        return self._file

    def _append(self, text: str) -> None:
        # one write and one flush per row: a kill (the process, not the machine) loses no row already written
        handle = self._open()
        handle.write(text)
        handle.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _close(self) -> None:
        self._release()
        if self._key is not None and _writers.get(self._key) is self:
            del _writers[self._key]

    def _on_run_started(self, engine: Engine) -> None:
        """A run that starts from a loaded state (a resume) drops the rows logged after that state."""
        iteration = int(engine.state.iteration or 0)
        if iteration <= 0 or self._closed or not self.path.exists():
            return
        epochs_done = _epochs_done(engine)
        limits = {"iteration": iteration, "epoch": epochs_done}

        def past(event: str, step: int, names: list[str]) -> bool:
            # a row is judged only when the handlers that log its event and tag all count this engine's
            # iteration (or epoch); any other row is kept
            scales = self._step_scales.get((event, _row_prefix(names)), set())
            if len(scales) != 1:
                return False
            scale = next(iter(scales))
            return scale is not None and scale[0] == id(engine) and scale[1] in limits and step > limits[scale[1]]

        self._release()
        dropped = self._drop_rows(past)
        if dropped:
            _log.info(
                "%s: dropped %d rows of %s logged after iteration %d (epoch %d), where the run resumes.",
                type(self).__name__,
                dropped,
                self.path,
                iteration,
                epochs_done,
            )

    def _drop_rows(self, past: Callable[[str, int, list[str]], bool]) -> int:
        """Rewrite the file without the rows for which ``past(event, step, logged names)`` holds; the number dropped."""
        raise NotImplementedError


class CSVLogger(_FileLogger):
    """Write one CSV row per logging event: ``step, event, wall_time`` and a column per logged name.

    Args:
        path: the CSV file; its folder is created, and one this process cannot write to fails here.
            One file has one writer: a second logger on a path that a live logger writes is refused.
        append: keep the rows of an existing file (a resumed run adds to them; the default) or
            start a new file.

    A name that first appears later in the run (a metric computed from epoch 2 on) adds a column:
    the file is rewritten once, atomically, with the wider header (earlier rows get empty cells),
    so the file is a valid table at every moment. A logged name equal to a fixed column (``step``,
    ``event``, ``wall_time``) is written as ``logged_<name>``, with a warning. Each row is flushed
    to the operating system as it is written, and the file is closed when a run completes or fails
    (and reopened on the next row). When an attached engine starts a run from a loaded checkpoint
    (``resume_from_latest``), the rows logged after that checkpoint are dropped first. Only rank 0
    writes.

    >>> import tempfile, pathlib
    >>> from ember.engine import Engine, Events
    >>> folder = tempfile.mkdtemp()
    >>> trainer = Engine(lambda engine, batch: batch * 0.5)
    >>> with CSVLogger(pathlib.Path(folder) / "log.csv") as logger:
    ...     _ = logger.attach_output_handler(trainer, Events.EPOCH_COMPLETED, tag="train",
    ...                                      output_transform=lambda loss: {"loss": loss})
    ...     _ = trainer.run([1.0, 2.0], max_epochs=2)
    >>> print((pathlib.Path(folder) / "log.csv").read_text().replace(",", " ").split()[:4])
    ['step', 'event', 'wall_time', 'train/loss']
    >>> [(row["step"], row["train/loss"]) for row in read_history(pathlib.Path(folder) / "log.csv")]
    [(1, 1.0), (2, 1.0)]
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = True) -> None:
        super().__init__(path, append)
        self.columns: list[str] = list(FIXED_COLUMNS)
        if self.writes and self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), [])
            if header[: len(FIXED_COLUMNS)] != list(FIXED_COLUMNS):
                self._close()
                raise ValueError(
                    f"{str(self.path)!r} exists but is not a CSVLogger file (its header is {header[:4]}...). "
                    "Pass another path, or append=False to replace it."
                )
            self.columns = header

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        named = {self._name(name): value for name, value in values.items()}
        new = [name for name in named if name not in self.columns]
        if new:
            self._widen(new)
        cells = {"step": str(step), "event": event, "wall_time": f"{_now():.3f}"}
        cells.update((name, repr(float(value))) for name, value in named.items())
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        if self._open().tell() == 0:
            writer.writerow(self.columns)
        writer.writerow([cells.get(column, "") for column in self.columns])
        self._append(text.getvalue())

    def _rewrite(self, rows: list[list[str]]) -> None:
        """Replace the file, atomically, by the header and ``rows`` (padded to the header's width)."""
        self._release()
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(self.columns)
        writer.writerows(row + [""] * (len(self.columns) - len(row)) for row in rows)
        write_atomic(self.path, [text.getvalue().encode("utf-8")])

    def _rows(self) -> list[list[str]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle))[1:]

    def _widen(self, new: list[str]) -> None:
        """Add columns: rewrite the file atomically with the wider header and the rows so far."""
        self._release()
        rows = self._rows()
        self.columns = self.columns + new
        self._rewrite(rows)

    def _drop_rows(self, past: Callable[[str, int, list[str]], bool]) -> int:
        rows = self._rows()
        fixed = len(FIXED_COLUMNS)

        def logged(row: list[str]) -> list[str]:
            return [name for name, cell in zip(self.columns[fixed:], row[fixed:], strict=False) if cell != ""]

        kept = [
            row for row in rows if len(row) < 2 or not row[0].isdigit() or not past(row[1], int(row[0]), logged(row))
        ]
        if len(kept) < len(rows):
            self._rewrite(kept)
        return len(rows) - len(kept)


class JSONLLogger(_FileLogger):
    """Write one JSON object per line and logging event: ``{"step", "event", "wall_time", name: value, ...}``.

    Args:
        path: the ``.jsonl`` file; its folder is created, and one this process cannot write to fails here.
            One file has one writer: a second logger on a path that a live logger writes is refused.
        append: keep the lines of an existing file (the default) or start a new file.

    Each line carries only the names logged by that event, so new names never touch earlier lines.
    A logged name equal to a fixed key (``step``, ``event``, ``wall_time``) is written as
    ``logged_<name>``, with a warning. Non-finite values are written as ``NaN``/``Infinity``, which
    Python's ``json`` and pandas read. Each line is flushed to the operating system as written; a
    run resumed from a checkpoint drops the lines logged after it first (as :class:`CSVLogger`).
    Only rank 0 writes.
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = True) -> None:
        super().__init__(path, append)

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        row: dict[str, Any] = {"step": step, "event": event, "wall_time": round(_now(), 3)}
        for name, value in values.items():
            row[self._name(name)] = float(value)
        self._append(json.dumps(row) + "\n")

    def _drop_rows(self, past: Callable[[str, int, list[str]], bool]) -> int:
        with open(self.path, encoding="utf-8") as handle:
            lines = [line for line in handle if line.strip()]
        kept = []
        for line in lines:
            row = json.loads(line)
            names = [name for name in row if name not in FIXED_COLUMNS]
            if not past(str(row.get("event", "")), int(row.get("step", 0)), names):
                kept.append(line)
        if len(kept) < len(lines):
            write_atomic(self.path, ["".join(kept).encode("utf-8")])
        return len(lines) - len(kept)


def _now() -> float:
    return time.time()


def _torn_warning(source: Path, line: int) -> None:
    warnings.warn(
        f"read_history: the last line of {str(source)!r} (line {line}) was cut short (its write did not finish); "
        "it is left out. The logger drops it when it next opens the file.",
        UserWarning,
        stacklevel=3,
    )


def _read_jsonl(source: Path, text: str) -> list[dict[str, Any]]:
    lines = text.split("\n")
    torn = lines.pop() if lines else ""
    if torn.strip():
        _torn_warning(source, len(lines) + 1)
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"Line {number} of {str(source)!r} is not a JSON object ({error.msg}): {line[:80]!r}. The file was "
                "changed by something other than JSONLLogger; remove or fix that line."
            ) from None
    return rows


def _read_csv(source: Path, text: str) -> list[dict[str, Any]]:
    complete = text.endswith("\n") or not text
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not complete:
        _torn_warning(source, len(records))
        records.pop()
    if not records:
        return []
    header, rows = records[0], []
    for number, cells in enumerate(records[1:], start=2):
        if len(cells) != len(header):
            raise ValueError(
                f"Row {number} of {str(source)!r} has {len(cells)} cells but the header has {len(header)}: "
                f"{','.join(cells)[:80]!r}. The file was changed by something other than CSVLogger (or two writers "
                "wrote it); remove or fix that row."
            )
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=True):
            if cell == "":
                continue
            row[name] = int(cell) if name == "step" else cell if name == "event" else float(cell)
        rows.append(row)
    return rows


def read_history(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a :class:`CSVLogger` or :class:`JSONLLogger` file, as dicts (empty cells left out).

    ``step`` is an int, ``event`` a string, everything else a float. A last line cut short (its
    write did not finish) is left out with a warning; any other malformed row is a ``ValueError``
    that names it.
    """
    source = Path(path)
    text = source.read_text(encoding="utf-8")
    if source.suffix in (".jsonl", ".json"):
        return _read_jsonl(source, text)
    return _read_csv(source, text)
