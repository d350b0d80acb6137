"""Fairness metrics (ignite's ``metrics.fairness``): a metric per subgroup of the data, and the gaps between groups.

``output`` is ``(y_pred, y, group_labels)``: each row's group decides which copy of the base metric it updates.
"""

from ember.metrics.fairness.accuracy_difference import SubgroupAccuracyDifference
from ember.metrics.fairness.base import SubgroupDifference, SubgroupMetric
from ember.metrics.fairness.demographic_parity import DemographicParityDifference, SelectionRate

__all__ = [
    "DemographicParityDifference",
    "SelectionRate",
    "SubgroupAccuracyDifference",
    "SubgroupDifference",
    "SubgroupMetric",
]
