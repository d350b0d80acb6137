"""Recommender metrics (ignite's ``ignite.metrics.rec_sys``): hit rate and NDCG at several cut-offs.

>>> import torch
>>> from ember.metrics.rec_sys import HitRate
>>> metric = HitRate(top_k=[1, 3])
>>> metric.update((torch.tensor([[0.1, 0.9, 0.3, 0.2]]), torch.tensor([[0, 0, 1, 0]])))
>>> metric.compute()
[0.0, 1.0]
"""

from ember.metrics.rec_sys.hitrate import HitRate
from ember.metrics.rec_sys.ndcg import NDCG

__all__ = ["NDCG", "HitRate"]
