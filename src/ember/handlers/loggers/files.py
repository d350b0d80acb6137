"""Plain-file loggers: :class:`CSVLogger` and :class:`JSONLLogger`, one row per logging event.

Both write a row each time a log handler fires, with the columns ``step``, ``event`` (the name of
the event that fired, e.g. ``ITERATION_COMPLETED``), ``wall_time`` (seconds since the epoch) and
one column per logged name (``train/loss``, ``validation/accuracy``, ...). They need nothing
beyond the standard library, and both load with pandas (``pandas.read_csv(path)``,
``pandas.read_json(path, lines=True)``) or :func:`read_history`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ember._atomic import write_atomic
from ember.handlers.loggers.base import BaseLogger, writable_folder

__all__ = ["CSVLogger", "JSONLLogger", "read_history"]

#: The columns every row has, before the logged names.
FIXED_COLUMNS = ("step", "event", "wall_time")


class _FileLogger(BaseLogger):
    """Rows appended to one text file, opened lazily, flushed at each epoch end, released at the run's end."""

    def __init__(self, path: str | os.PathLike[str], append: bool) -> None:
        super().__init__()
        self.path = Path(path)
        self._file: IO[str] | None = None
        if not self.writes:
            return
        if self.path.is_dir():
            raise IsADirectoryError(
                f"{type(self).__name__} writes one file, but {str(self.path)!r} is a folder. "
                f"Pass a file path such as {str(self.path / 'metrics')!r} plus the extension."
            )
        writable_folder(self.path.parent, type(self).__name__)
        if not append and self.path.exists():
            self.path.unlink()

    def _open(self) -> IO[str]:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - held across calls
        return self._file

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _close(self) -> None:
        self._release()


class CSVLogger(_FileLogger):
    """Write one CSV row per logging event: ``step, event, wall_time`` and a column per logged name.

    Args:
        path: the CSV file; its folder is created, and one this process cannot write to fails here.
        append: keep the rows of an existing file (a resumed run adds to them; the default) or
            start a new file.

    A name that first appears later in the run (a metric computed from epoch 2 on) adds a column:
    the file is rewritten once, atomically, with the wider header (earlier rows get empty cells),
    so the file is a valid table at every moment. Rows are flushed at the end of each epoch of
    an attached engine, and the file is closed when a run completes or fails (and reopened on the
    next row). Only rank 0 writes.

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
                raise ValueError(
                    f"{str(self.path)!r} exists but is not a CSVLogger file (its header is {header[:4]}...). "
                    "Pass another path, or append=False to replace it."
                )
            self.columns = header

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        new = [name for name in values if name not in self.columns]
        if new:
            self._widen(new)
        cells = {"step": str(step), "event": event, "wall_time": f"{_now():.3f}"}
        cells.update((name, repr(float(value))) for name, value in values.items())
        handle = self._open()
        if handle.tell() == 0:
            csv.writer(handle).writerow(self.columns)
        csv.writer(handle).writerow([cells.get(column, "") for column in self.columns])

    def _widen(self, new: list[str]) -> None:
        """Add columns: rewrite the file atomically with the wider header and the rows so far."""
        self._release()
        rows: list[list[str]] = []
        if self.path.exists():
            with open(self.path, encoding="utf-8", newline="") as handle:
                rows = list(csv.reader(handle))[1:]
        self.columns = self.columns + new
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(self.columns)
        writer.writerows(row + [""] * (len(self.columns) - len(row)) for row in rows)
        write_atomic(self.path, [text.getvalue().encode("utf-8")])


class JSONLLogger(_FileLogger):
    """Write one JSON object per line and logging event: ``{"step", "event", "wall_time", name: value, ...}``.

    Args:
        path: the ``.jsonl`` file; its folder is created, and one this process cannot write to fails here.
        append: keep the lines of an existing file (the default) or start a new file.

    Each line carries only the names logged by that event, so new names never touch earlier lines.
    Non-finite values are written as ``NaN``/``Infinity``, which Python's ``json`` and pandas read.
    Flushed at each epoch end of an attached engine, closed when a run completes or fails. Only
    rank 0 writes.
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = True) -> None:
        super().__init__(path, append)

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        row: dict[str, Any] = {"step": step, "event": event, "wall_time": round(_now(), 3)}
        row.update((name, float(value)) for name, value in values.items())
        self._open().write(json.dumps(row) + "\n")


def _now() -> float:
    return time.time()


def read_history(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a :class:`CSVLogger` or :class:`JSONLLogger` file, as dicts (empty cells left out).

    ``step`` is an int, ``event`` a string, everything else a float.
    """
    source = Path(path)
    rows: list[dict[str, Any]] = []
    with open(source, encoding="utf-8", newline="") as handle:
        if source.suffix == ".jsonl" or source.suffix == ".json":
            for line in handle:
                if line.strip():
                    rows.append(json.loads(line))
            return rows
        for cells in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for name, cell in cells.items():
                if cell in ("", None):
                    continue
                if name == "step":
                    row[name] = int(cell)
                elif name == "event":
                    row[name] = cell
                else:
                    row[name] = float(cell)
            rows.append(row)
    return rows
