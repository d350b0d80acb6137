"""pytorch-ignite's ``ignite.contrib.engines``: the truncated-BPTT trainer, and ``common``'s training helpers."""

from ember.contrib.engines.tbptt import Tbptt_Events, create_supervised_tbptt_trainer

__all__ = ["Tbptt_Events", "create_supervised_tbptt_trainer"]
