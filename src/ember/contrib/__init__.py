"""pytorch-ignite 0.5's deprecated ``ignite.contrib`` import paths, kept so that older ignite code runs unchanged."""

__all__: list[str] = []
