"""Deprecated import path of ember 0.1.0: the supervised factories now live in :mod:`ember.supervised`.

``from ember.engine import create_supervised_trainer`` (pytorch-ignite's import line) and
``from ember.supervised import ...`` both work; this module re-exports the same objects and warns once
on import. It will be removed in ember 0.3 (see the versioning and deprecation policy).
"""

import warnings

from ember.supervised import (
    EvaluationStep,
    TrainerEvents,
    TrainingStep,
    create_supervised_evaluator,
    create_supervised_trainer,
    prepare_batch,
    supervised_evaluation_step,
    supervised_training_step,
)

warnings.warn(
    "ember.engine.supervised is deprecated: import the supervised factories from ember.engine "
    "(as with pytorch-ignite) or from ember.supervised.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "EvaluationStep",
    "TrainerEvents",
    "TrainingStep",
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_training_step",
]
