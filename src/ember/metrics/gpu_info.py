"""GPU memory and utilization as metrics, read from NVML (ignite's ``gpu_info``)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ember.engine import Engine, Events
from ember.metrics._optional import require
from ember.metrics.metric import Metric

__all__ = ["GpuInfo"]

_MIB = 1024 * 1024


class GpuInfo(Metric):
    """Each GPU's used memory (%) and utilization (%), stored at every iteration as ignite's ``GpuInfo``.

    Attached with ``GpuInfo().attach(trainer, name="gpu")``, it sets ``engine.state.metrics``
    ``"gpu:<index> mem(%)"`` (used over total memory) and ``"gpu:<index> util(%)"`` for every
    visible GPU at ``event_name`` (``ITERATION_COMPLETED`` by default), e.g. for a progress bar.
    A GPU that reports no utilization gets no ``util(%)`` entry. It reads NVML through the
    ``nvidia-ml-py`` package (``pip install 'ember[gpu]'``) and needs a CUDA GPU: without either,
    construction raises.

    Example (on a machine with an NVIDIA GPU)::

        GpuInfo().attach(trainer, name="gpu")
        ProgressBar().attach(trainer, metric_names=["gpu:0 mem(%)", "gpu:0 util(%)"])
    """

    required_output_keys = None

    def __init__(self) -> None:
        self._nvml = require("pynvml", "GpuInfo", "gpu", package="nvidia-ml-py")
        if not torch.cuda.is_available():
            raise RuntimeError(
                "GpuInfo reports NVIDIA GPUs, but torch sees no CUDA GPU here. Attach it only where "
                "torch.cuda.is_available() is True."
            )
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as error:
            raise RuntimeError(
                f"GpuInfo could not start NVML ({error}); check that the NVIDIA driver is installed."
            ) from error
        super().__init__()

    def reset(self) -> None:
        """Nothing to forget: the values are read when computed."""

    def update(self, output: Any) -> None:
        """Nothing to accumulate: the values are read when computed."""

    def compute(self) -> list[dict[str, Any]]:
        """Per GPU, ``{"fb_memory_usage": {"used": MiB, "total": MiB}, "utilization": {"gpu_util": %}}``."""
        nvml = self._nvml
        report = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            entry: dict[str, Any] = {"fb_memory_usage": {"used": memory.used / _MIB, "total": memory.total / _MIB}}
            try:
                entry["utilization"] = {"gpu_util": int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)}
            except nvml.NVMLError:  # some GPUs (e.g. MIG slices) report none: no util(%) entry, as ignite's "N/A"
                entry["utilization"] = {"gpu_util": "N/A"}
            report.append(entry)
        return report

    def completed(self, engine: Engine, name: str) -> None:
        """Store ``"<name>:<index> mem(%)"`` and ``"<name>:<index> util(%)"`` for every GPU."""
        report = self.compute()
        if not report:
            warnings.warn("GpuInfo found no GPU to report on.", stacklevel=2)
            return
        for index, entry in enumerate(report):
            memory = entry["fb_memory_usage"]
            engine.state.metrics[f"{name}:{index} mem(%)"] = int(memory["used"] * 100.0 / memory["total"])
        for index, entry in enumerate(report):
            utilization = entry["utilization"]["gpu_util"]
            if isinstance(utilization, int):
                engine.state.metrics[f"{name}:{index} util(%)"] = utilization

    def attach(self, engine: Engine, name: str = "gpu", event_name: Any = Events.ITERATION_COMPLETED) -> None:
        """Store the values in ``engine.state.metrics`` at every ``event_name``."""
        if not isinstance(engine, Engine):
            raise TypeError(f"GpuInfo.attach needs an ember Engine, got {type(engine).__name__}.")
        engine.add_event_handler(event_name, self.completed, name)
