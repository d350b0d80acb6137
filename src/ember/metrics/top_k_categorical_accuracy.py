"""ignite's import path ``ignite.metrics.top_k_categorical_accuracy``: top-k accuracy (imports only)."""

from ember.metrics.classification import TopKCategoricalAccuracy

__all__ = ["TopKCategoricalAccuracy"]
