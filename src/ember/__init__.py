"""ember: an event-driven training engine for PyTorch.

Write ``process(engine, batch)``, hand it to :class:`~ember.engine.Engine`, attach handlers to its
:class:`~ember.engine.Events`, and call ``run``. Importing ember changes nothing global.
"""

from ember.engine import Engine, Events, State

__version__ = "0.1.0"

__all__ = ["Engine", "Events", "State", "__version__"]
