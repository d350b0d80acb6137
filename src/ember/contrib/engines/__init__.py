"""pytorch-ignite's ``ignite.contrib.engines``: the truncated-BPTT trainer, and ``common``'s training helpers.

ignite exports only ``Tbptt_Events`` and ``create_supervised_tbptt_trainer`` here; ember also gives
the functions of :mod:`ember.contrib.engines.common` (the same objects), so that they have a page in
the API reference.
"""

from ember.contrib.engines.common import (
    add_early_stopping_by_val_score,
    empty_cuda_cache,
    gen_save_best_models_by_val_score,
    save_best_model_by_val_score,
    setup_any_logging,
    setup_clearml_logging,
    setup_common_distrib_training_handlers,
    setup_common_training_handlers,
    setup_mlflow_logging,
    setup_neptune_logging,
    setup_plx_logging,
    setup_tb_logging,
    setup_trains_logging,
    setup_visdom_logging,
    setup_wandb_logging,
)
from ember.contrib.engines.tbptt import Tbptt_Events, create_supervised_tbptt_trainer

__all__ = [
    "Tbptt_Events",
    "add_early_stopping_by_val_score",
    "create_supervised_tbptt_trainer",
    "empty_cuda_cache",
    "gen_save_best_models_by_val_score",
    "save_best_model_by_val_score",
    "setup_any_logging",
    "setup_clearml_logging",
    "setup_common_distrib_training_handlers",
    "setup_common_training_handlers",
    "setup_mlflow_logging",
    "setup_neptune_logging",
    "setup_plx_logging",
    "setup_tb_logging",
    "setup_trains_logging",
    "setup_visdom_logging",
    "setup_wandb_logging",
]
