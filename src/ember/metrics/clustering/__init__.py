"""Clustering metrics (ignite's ``metrics.clustering``): scores of cluster assignments of feature vectors.

They keep the epoch's ``(features, labels)`` and score them with scikit-learn at ``compute()``
(``pip install 'ember[sklearn]'``); under ``torch.distributed`` the rows of every rank are scored together.
"""

from ember.metrics.clustering.calinski_harabasz_score import CalinskiHarabaszScore
from ember.metrics.clustering.davies_bouldin_score import DaviesBouldinScore
from ember.metrics.clustering.silhouette_score import SilhouetteScore

__all__ = ["CalinskiHarabaszScore", "DaviesBouldinScore", "SilhouetteScore"]
