"""Curves as a PNG: :func:`plot_history` draws a CSV/JSONL log, :class:`CurvesPlotter` does it at the end of a run.

matplotlib is imported only when a plot is drawn, and only its Agg canvas is used (no window, no
change to matplotlib's global backend). Install it with ``pip install 'ember[plot]'``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ember._atomic import write_atomic
from ember.engine import Engine, Events
from ember.handlers.loggers.base import writable_folder
from ember.handlers.loggers.files import FIXED_COLUMNS, _FileLogger, read_history
from ember.metrics._checks import keywords_checked

__all__ = ["CurvesPlotter", "plot_history"]

History = str | os.PathLike[str] | _FileLogger | Iterable[Mapping[str, Any]]

_ITERATION_EVENTS = {"ITERATION_STARTED", "ITERATION_COMPLETED", "GET_BATCH_STARTED", "GET_BATCH_COMPLETED"}


def _rows(history: History) -> Sequence[Mapping[str, Any]]:
    if isinstance(history, _FileLogger):
        history.flush()
        return read_history(history.path) if history.path.exists() else []
    if isinstance(history, (str, os.PathLike)):
        return read_history(history)
    return list(history)


def _panels(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[str, str, list[tuple[int, float]]]]]:
    """Group the curves into panels: ``{title: [(curve name, x unit, points)]}``.

    Names that differ only by their first part (``train/loss``, ``validation/loss``) and share an
    x unit are drawn in one panel (``loss``); every other name gets a panel of its own.
    """
    curves: dict[str, list[tuple[int, float]]] = {}
    seen: dict[str, set[str]] = {}
    for row in rows:
        unit = "iteration" if row.get("event") in _ITERATION_EVENTS else "epoch"
        for name, value in row.items():
            if name in FIXED_COLUMNS or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            curves.setdefault(name, []).append((int(row["step"]), float(value)))
            seen.setdefault(name, set()).add(unit)
    units = {name: "iteration" if kinds == {"iteration"} else "epoch" for name, kinds in seen.items()}
    keys = {name: (name.split("/", 1)[1] if "/" in name else name, units[name]) for name in curves}
    shared = {key for key in keys.values() if sum(1 for other in keys.values() if other == key) > 1}
    panels: dict[str, list[tuple[str, str, list[tuple[int, float]]]]] = {}
    for name, points in curves.items():
        key = keys[name]
        title = f"{key[0]} (per {key[1]})" if key in shared else name
        panels.setdefault(title, []).append((name, units[name], sorted(points)))

    def order(item: tuple[str, list[tuple[str, str, list[tuple[int, float]]]]]) -> int:
        # shared panels (train vs validation) first, then per-epoch metrics, per-iteration curves, parameters
        title, curves = item
        if len(curves) > 1:
            return 0
        if title.startswith(("lr/", "momentum/")) or "/group_" in title:
            return 3
        return 2 if curves[0][1] == "iteration" else 1

    return dict(sorted(panels.items(), key=order))


def plot_history(history: History, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Draw the curves of a CSV/JSONL log to a PNG at ``path`` (written atomically); return the path.

    Args:
        history: a :class:`~ember.handlers.CSVLogger`/:class:`~ember.handlers.JSONLLogger` (flushed
            first), the path of their file, or rows as dicts with ``step``, ``event`` and values.
        path: the PNG to write; its folder is created.
        title: a title over the figure.

    Each logged name is a curve over its step: names logged on iteration events over iterations,
    the others over epochs. ``train/loss`` and ``validation/loss`` (the same name under different
    tags, with the same x unit) share a panel. Needs matplotlib: ``pip install 'ember[plot]'``.

    >>> import tempfile, pathlib
    >>> rows = [{"step": e, "event": "EPOCH_COMPLETED", "train/loss": 1 / e, "validation/loss": 1.2 / e}
    ...         for e in range(1, 6)]
    >>> png = plot_history(rows, pathlib.Path(tempfile.mkdtemp()) / "curves.png")
    >>> png.read_bytes()[:4]
    b'\\x89PNG'
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plot_history needs matplotlib, which is not installed. Install it with: pip install 'ember[plot]'."
        ) from error
    target = Path(path)
    writable_folder(target.parent, "plot_history")
    panels = _panels(_rows(history))
    columns = min(3, max(1, len(panels)))
    lines = max(1, math.ceil(len(panels) / columns))
    figure = Figure(figsize=(4.8 * columns, 3.4 * lines), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    if title:
        figure.suptitle(title)
    if not panels:
        axes = figure.add_subplot(1, 1, 1)
        axes.text(0.5, 0.5, "nothing logged yet", ha="center", va="center")
        axes.set_axis_off()
    for index, (panel, curves) in enumerate(panels.items()):
        axes = figure.add_subplot(lines, columns, index + 1)
        for name, _, points in curves:
            steps = [step for step, _ in points]
            values = [value for _, value in points]
            axes.plot(steps, values, marker="o" if len(points) <= 30 else None, markersize=3, label=name)
        axes.set_title(panel)
        axes.set_xlabel(curves[0][1])
        axes.grid(True, alpha=0.3)
        if len(curves) > 1:
            axes.legend()
    stream = io.BytesIO()
    figure.savefig(stream, format="png")
    write_atomic(target, [stream.getvalue()])
    return target


class CurvesPlotter:
    """Draw a logger's curves to a PNG when a run completes, and whenever :meth:`plot` is called.

    Args:
        history: a :class:`~ember.handlers.CSVLogger` or :class:`~ember.handlers.JSONLLogger`, or
            the path of their file.
        path: the PNG to write.
        title: a title over the figure.

    Example::

        csv_logger = CSVLogger("runs/exp1/metrics.csv")
        ...
        CurvesPlotter(csv_logger, "runs/exp1/curves.png").attach(trainer)
        trainer.run(loader, max_epochs=10)   # curves.png is written at COMPLETED

    Only rank 0 draws (a logger on another rank writes no file to draw from).
    """

    @keywords_checked
    def __init__(self, history: History, path: str | os.PathLike[str], title: str | None = None) -> None:
        if not isinstance(history, (_FileLogger, str, os.PathLike)):
            raise TypeError(
                f"CurvesPlotter draws from a CSVLogger/JSONLLogger or the path of their file, got "
                f"{type(history).__name__}. Call plot_history(rows, path) to draw rows you hold."
            )
        try:
            import matplotlib  # noqa: F401 - fail now rather than at the end of a long run
        except ImportError as error:
            raise ImportError(
                "CurvesPlotter needs matplotlib, which is not installed. Install it with: pip install 'ember[plot]'."
            ) from error
        self.history = history
        self.path = Path(path)
        self.title = title
        self.writes = not isinstance(history, _FileLogger) or history.writes
        if self.writes:
            writable_folder(self.path.parent, "CurvesPlotter")

    def attach(self, engine: Engine, event_name: Any = Events.COMPLETED) -> CurvesPlotter:
        """Draw at ``event_name`` of ``engine`` (``COMPLETED`` by default); returns ``self``."""
        engine.add_event_handler(event_name, self)
        return self

    def plot(self) -> Path | None:
        """Draw now; return the PNG's path (``None`` on a rank that does not write)."""
        if not self.writes:
            return None
        return plot_history(self.history, self.path, self.title)

    def __call__(self, engine: Engine) -> None:
        self.plot()
