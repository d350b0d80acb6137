"""ignite's ``ignite.contrib.metrics.gpu_info`` path: the same name as :mod:`ember.metrics.gpu_info`."""

from ember.metrics.gpu_info import GpuInfo

__all__ = ["GpuInfo"]
