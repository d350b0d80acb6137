"""GpuInfo: the clear errors of a machine without nvidia-ml-py or without a CUDA GPU, and its values on one with."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

import ember.contrib.metrics
import ember.contrib.metrics.gpu_info
from ember.engine import Engine
from ember.metrics import GpuInfo

HAS_NVML = importlib.util.find_spec("pynvml") is not None


def test_without_nvidia_ml_py_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(ModuleNotFoundError, match=r"ember\[gpu\].*nvidia-ml-py"):
        GpuInfo()


@pytest.mark.skipif(not HAS_NVML or torch.cuda.is_available(), reason="needs nvidia-ml-py on a machine without a GPU")
def test_without_a_gpu_construction_says_so() -> None:
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        GpuInfo()


@pytest.mark.skipif(not HAS_NVML or not torch.cuda.is_available(), reason="needs nvidia-ml-py and a CUDA GPU")
def test_on_a_gpu_every_iteration_stores_memory_and_utilization_percentages() -> None:
    engine = Engine(lambda engine, batch: torch.ones(256, 256, device="cuda").sum().item())
    GpuInfo().attach(engine, name="gpu")
    metrics = engine.run(range(3)).metrics
    assert 0 <= metrics["gpu:0 mem(%)"] <= 100
    assert "gpu:0 util(%)" not in metrics or 0 <= metrics["gpu:0 util(%)"] <= 100


def test_the_contrib_path_names_the_same_class() -> None:
    assert ember.contrib.metrics.GpuInfo is GpuInfo is ember.contrib.metrics.gpu_info.GpuInfo
